"""Use cases on messages: the life cycle pending -> sealed | failed, and back to pending by a
retry or when the sweeper finds a message waiting too long.

Every change of a message is one statement that also writes its event (see the repository).
Once a final state is committed it is announced (``uow.finals``) to the clients waiting on it.
"""

import uuid

from chat_service.chats import policy
from chat_service.chats.use_cases import readable_chat
from chat_service.messages.repository import OwnedMessage
from chat_service.uow import ChatUnitOfWork
from contracts.chat import (
    AddMessage,
    FailMessage,
    GetMessage,
    GetMessageRef,
    ListMessages,
    MessagePublic,
    MessageRef,
    RetryMessage,
    SealMessage,
)
from contracts.rpc import Actor, Page
from servicekit.errors import Conflict, NotFound
from servicekit.pagination import decode_cursor, page_of
from servicekit.usecases import UseCases

use_cases: UseCases[ChatUnitOfWork] = UseCases()
SWEEP_BATCH = 100
"""The most stale messages one sweep handles."""


@use_cases.handles
async def add_message(cmd: AddMessage, uow: ChatUnitOfWork) -> MessagePublic:
    """Post the customer's input; the AI worker hears of it through ``MessageCreated``.

    The same idempotency key in the same chat returns the message it created first (a client
    retrying after a network error never makes a second one); with other content the key is a
    conflict. The database decides races (a unique index).
    """
    added = await uow.messages.add(
        message_id=cmd.message_id,
        actor_id=cmd.actor.id,
        chat_id=cmd.chat_id,
        user_input=cmd.content,
        key=cmd.idempotency_key,
        turns=uow.limits.recent_turns,
    )
    if added is not None:
        return added
    # Nothing made: the chat is missing or not the actor's, or the key was used already.
    chat = await uow.chats.get(cmd.chat_id)
    if chat is None:
        raise NotFound("chat not found")
    policy.check_post(cmd.actor, chat.user_id)
    earlier = None
    if cmd.idempotency_key is not None:
        earlier = await uow.messages.by_key(cmd.chat_id, cmd.idempotency_key)
    if earlier is None:  # the chat changed hands in between: unheard of, but not a 500
        raise Conflict("the chat changed while posting: try again")
    if earlier.user_input != cmd.content:
        raise Conflict("this Idempotency-Key was used with other content")
    return earlier


async def _readable(
    actor: Actor, message_id: uuid.UUID, chat_id: uuid.UUID | None, uow: ChatUnitOfWork
) -> OwnedMessage:
    """The message and its owner, if it exists (in ``chat_id``) and ``actor`` may read it."""
    found = await uow.messages.with_owner(message_id)
    if found is None or (chat_id is not None and found.message.chat_id != chat_id):
        raise NotFound("message not found")
    try:
        policy.check_read(actor, found.owner_id)
    except NotFound:
        raise NotFound("message not found") from None
    return found


@use_cases.handles
async def get_message(cmd: GetMessage, uow: ChatUnitOfWork) -> MessagePublic:
    return (await _readable(cmd.actor, cmd.message_id, cmd.chat_id, uow)).message


@use_cases.handles
async def message_ref(cmd: GetMessageRef, uow: ChatUnitOfWork) -> MessageRef:
    """Whose message this is, if the actor may see it (for filing tickets on it)."""
    found = await _readable(cmd.actor, cmd.message_id, None, uow)
    message = found.message
    return MessageRef(
        message_id=message.id,
        chat_id=message.chat_id,
        user_id=found.owner_id,
        status=message.status,
    )


@use_cases.handles
async def list_messages(cmd: ListMessages, uow: ChatUnitOfWork) -> Page[MessagePublic]:
    """A chat's messages, oldest first."""
    after = decode_cursor(cmd.cursor) if cmd.cursor else None
    await readable_chat(cmd.actor, cmd.chat_id, uow)
    rows = await uow.messages.page(cmd.chat_id, after=after, limit=cmd.limit)
    return page_of(rows, cmd.limit)


@use_cases.handles
async def seal_message(cmd: SealMessage, uow: ChatUnitOfWork) -> MessagePublic:
    """Seal a pending message with its answer. Idempotent: a message never gets two."""
    sealed = await uow.messages.seal(
        cmd.message_id, ai_response=cmd.ai_response, references=cmd.references, model=cmd.model
    )
    return await _finished(cmd.message_id, sealed, uow)


@use_cases.handles
async def fail_message(cmd: FailMessage, uow: ChatUnitOfWork) -> MessagePublic:
    """Mark a pending message failed (it can be retried). Idempotent."""
    failed = await uow.messages.fail(cmd.message_id, error=cmd.error)
    return await _finished(cmd.message_id, failed, uow)


async def _finished(
    message_id: uuid.UUID, changed: MessagePublic | None, uow: ChatUnitOfWork
) -> MessagePublic:
    """Announce a final state just committed; if nothing changed, the message as it is."""
    if changed is None:
        found = await uow.messages.with_owner(message_id)
        if found is None:
            raise NotFound("message not found")
        return found.message  # already final: nothing happens twice
    await uow.finals.announce(changed)
    return changed


@use_cases.handles
async def retry_message(cmd: RetryMessage, uow: ChatUnitOfWork) -> MessagePublic:
    """Send a failed message back to the AI worker."""
    found = await uow.messages.with_owner(cmd.message_id)
    if found is None or found.message.chat_id != cmd.chat_id:
        raise NotFound("message not found")
    try:
        policy.check_retry(cmd.actor, found.owner_id)
    except NotFound:  # not theirs to see: as if it did not exist, word for word
        raise NotFound("message not found") from None
    reopened = await uow.messages.reopen_failed(found.message.id, turns=uow.limits.recent_turns)
    if reopened is None:
        raise Conflict(f"only a failed message can be retried; this one is {found.message.status}")
    return reopened


async def sweep(uow: ChatUnitOfWork) -> int:
    """Emit again the messages left pending too long; fail those emitted too often (and
    announce it). How many stale messages it found; the bootstrap runs it now and then."""
    limits = uow.limits
    stale = await uow.messages.stale_pending(
        older_than=limits.sweep_after_seconds, limit=SWEEP_BATCH
    )
    for message in stale:
        if message.emissions >= limits.max_emissions or message.orphaned:
            failed = await uow.messages.fail(
                message.id, error=f"no answer after {message.emissions} attempts"
            )
            if failed is not None:  # answered in the meantime: nothing to do
                await uow.finals.announce(failed)
        else:
            await uow.messages.emit_again(
                message.id, older_than=limits.sweep_after_seconds, turns=limits.recent_turns
            )
    return len(stale)
