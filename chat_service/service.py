"""Use cases on chats and messages: the message life cycle pending -> sealed | failed.

One transaction per command; every change writes its event to the outbox in the same
transaction. Once the transaction is committed, a final state is also announced on
``ai.stream`` for the clients waiting on it (best effort: the message itself is the truth).
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import func

from chat_service import policy
from chat_service.models import Chat, Message, outbox
from chat_service.repository import ChatRepository, MessageQueries
from contracts.chat import (
    ChatPublic,
    MessagePublic,
    MessageRef,
    Reference,
)
from contracts.enums import MessageStatus
from contracts.events import EventTypes
from contracts.rpc import Actor, Page
from servicekit.db import Queries
from servicekit.errors import Conflict, NotFound
from servicekit.outbox import record_event
from servicekit.pagination import decode_cursor, page_of

DEFAULT_TITLE = "New chat"
FinalStateListener = Callable[[MessagePublic], Awaitable[None]]


def chat_public(chat: Chat) -> ChatPublic:
    return ChatPublic.model_validate(chat, from_attributes=True)


def message_public(message: Message) -> MessagePublic:
    return MessagePublic.model_validate(message, from_attributes=True)


@dataclass(frozen=True)
class ChatLimits:
    recent_turns: int = 6
    sweep_after_seconds: float = 60.0
    max_emissions: int = 3


class ChatService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        queries: Queries,
        *,
        on_final: FinalStateListener,
        limits: ChatLimits,
    ) -> None:
        self._sessions = sessions
        self._messages = MessageQueries(queries)
        self._on_final = on_final
        self._limits = limits

    async def create_chat(self, *, actor: Actor, title: str | None) -> ChatPublic:
        """Open a chat owned by the caller."""
        async with self._sessions.begin() as session:
            chat = await ChatRepository(session).add_chat(
                user_id=actor.id, title=title or DEFAULT_TITLE
            )
            public = chat_public(chat)
            await record_event(session, outbox, EventTypes.CHAT_CREATED, chat.id, public)
        return public

    async def get_chat(self, *, actor: Actor, chat_id: uuid.UUID) -> ChatPublic:
        async with self._sessions() as session:
            chat = await ChatRepository(session).get_chat(chat_id)
        if chat is None:
            raise NotFound("chat not found")
        policy.check_read(actor, chat.user_id)
        return chat_public(chat)

    async def list_chats(
        self, *, actor: Actor, user_id: uuid.UUID | None, limit: int, cursor: str | None
    ) -> Page[ChatPublic]:
        """Chats newest first: the caller's own, or for staff any user's."""
        owner = policy.listed_owner(actor, user_id)
        after = decode_cursor(cursor) if cursor else None
        async with self._sessions() as session:
            rows = await ChatRepository(session).chats_page(user_id=owner, after=after, limit=limit)
        return page_of(rows, limit, chat_public)

    async def add_message(
        self,
        *,
        actor: Actor,
        chat_id: uuid.UUID,
        content: str,
        idempotency_key: str | None,
        message_id: uuid.UUID | None = None,
    ) -> MessagePublic:
        """Post the customer's input; the AI worker hears of it through ``message.created``.

        The same idempotency key in the same chat returns the message it created first (a
        client retrying after a network error never makes a second one); with other content
        the key is a conflict. The database decides races (a unique index).
        """
        added = await self._messages.add(
            message_id=message_id,
            actor_id=actor.id,
            chat_id=chat_id,
            user_input=content,
            key=idempotency_key,
            turns=self._limits.recent_turns,
        )
        if added is not None:
            return added
        # Nothing made: the chat is missing or not the actor's, or the key was used already.
        async with self._sessions() as session:
            repo = ChatRepository(session)
            chat = await repo.get_chat(chat_id)
            if chat is None:
                raise NotFound("chat not found")
            policy.check_post(actor, chat.user_id)
            earlier = None
            if idempotency_key is not None:
                earlier = await repo.message_by_key(chat_id, idempotency_key)
        if earlier is None:  # the chat changed hands in between: unheard of, but not a 500
            raise Conflict("the chat changed while posting: try again")
        return _replay(earlier, content)

    async def get_message(
        self, *, actor: Actor, message_id: uuid.UUID, chat_id: uuid.UUID | None
    ) -> MessagePublic:
        message, _ = await self._readable(actor, message_id, chat_id)
        return message

    async def message_ref(self, *, actor: Actor, message_id: uuid.UUID) -> MessageRef:
        """Whose message this is, if the actor may see it (for filing tickets on it)."""
        message, owner = await self._readable(actor, message_id, None)
        return MessageRef(
            message_id=message.id, chat_id=message.chat_id, user_id=owner, status=message.status
        )

    async def _readable(
        self, actor: Actor, message_id: uuid.UUID, chat_id: uuid.UUID | None
    ) -> tuple[MessagePublic, uuid.UUID]:
        """The message and its owner, if it exists (in ``chat_id``) and ``actor`` may read it."""
        found = await self._messages.with_owner(message_id)
        if found is None or (chat_id is not None and found[0].chat_id != chat_id):
            raise NotFound("message not found")
        try:
            policy.check_read(actor, found[1])
        except NotFound:
            raise NotFound("message not found") from None
        return found

    async def list_messages(
        self, *, actor: Actor, chat_id: uuid.UUID, limit: int, cursor: str | None
    ) -> Page[MessagePublic]:
        """A chat's messages, oldest first."""
        after = decode_cursor(cursor) if cursor else None
        async with self._sessions() as session:
            repo = ChatRepository(session)
            chat = await repo.get_chat(chat_id)
            if chat is None:
                raise NotFound("chat not found")
            policy.check_read(actor, chat.user_id)
            rows = await repo.messages_page(chat_id, after=after, limit=limit)
        return page_of(rows, limit, message_public)

    async def seal_message(
        self, *, message_id: uuid.UUID, ai_response: str, references: list[Reference], model: str
    ) -> MessagePublic:
        """Seal a pending message with its answer. Idempotent: a message never gets two."""
        sealed = await self._messages.seal(
            message_id,
            ai_response=ai_response,
            references=[r.model_dump() for r in references],
            model=model,
        )
        return await self._finished(message_id, sealed)

    async def fail_message(self, *, message_id: uuid.UUID, error: str) -> MessagePublic:
        """Mark a pending message failed (it can be retried). Idempotent."""
        return await self._finished(message_id, await self._messages.fail(message_id, error=error))

    async def _finished(
        self, message_id: uuid.UUID, changed: MessagePublic | None
    ) -> MessagePublic:
        """Announce a final state just recorded; if nothing changed, the message as it is."""
        if changed is None:
            found = await self._messages.with_owner(message_id)
            if found is None:
                raise NotFound("message not found")
            return found[0]  # already final: nothing happens twice
        await self._on_final(changed)
        return changed

    async def retry_message(
        self, *, actor: Actor, chat_id: uuid.UUID, message_id: uuid.UUID
    ) -> MessagePublic:
        """Send a failed message back to the AI worker."""
        async with self._sessions.begin() as session:
            repo = ChatRepository(session)
            found = await repo.get_message(message_id)
            if found is None or found[1].id != chat_id:
                raise NotFound("message not found")
            message, chat = found
            policy.check_retry(actor, chat.user_id)
            reopened = await repo.reopen_failed(message.id)
            if reopened is None:
                raise Conflict(
                    f"only a failed message can be retried; this one is {message.status}"
                )
            await repo.emit_created(reopened.id, turns=self._limits.recent_turns)
            return message_public(reopened)

    async def sweep(self) -> int:
        """Re-emit messages left pending too long; fail those re-emitted too often."""
        failed: list[MessagePublic] = []
        async with self._sessions.begin() as session:
            repo = ChatRepository(session)
            stale = await repo.claim_stale_pending(self._limits.sweep_after_seconds, limit=100)
            for message in stale:
                chat = await repo.get_chat(message.chat_id)
                if message.emissions >= self._limits.max_emissions or chat is None:
                    message.status = MessageStatus.FAILED
                    message.error = f"no answer after {message.emissions} attempts"
                    await session.flush()
                    public = message_public(message)
                    await record_event(
                        session, outbox, EventTypes.MESSAGE_FAILED, message.id, public
                    )
                    failed.append(public)
                else:
                    message.emissions += 1
                    message.emitted_at = func.now()
                    await session.flush()  # the event is built from the row as updated
                    await repo.emit_created(message.id, turns=self._limits.recent_turns)
        for public in failed:
            await self._on_final(public)
        return len(stale)

    async def forget_user(self, user_id: uuid.UUID) -> int:
        """Delete every chat (and, by cascade, message) of a hard-deleted user. Idempotent."""
        async with self._sessions.begin() as session:
            return await ChatRepository(session).delete_chats_of(user_id)


def _replay(earlier: Message, content: str) -> MessagePublic:
    if earlier.user_input != content:
        raise Conflict("this Idempotency-Key was used with other content")
    return message_public(earlier)
