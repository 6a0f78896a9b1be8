"""The chat service's use cases, called as the bus calls them (``InProcessRpc``), on fake
stores in memory: what a customer, an agent, an admin and the AI worker notice."""

import uuid
from typing import TypeVar

import pytest
from pydantic import BaseModel

from chat_service.messages.use_cases import sweep
from chat_service.settings import ChatLimits
from contracts.base import Command
from contracts.chat import (
    AddMessage,
    ChatCreate,
    ChatCreated,
    ChatPublic,
    CreateChat,
    FailMessage,
    GetChat,
    GetMessage,
    GetMessageRef,
    ListChats,
    ListMessages,
    MessageCreated,
    MessageFailed,
    MessagePublic,
    MessageRef,
    MessageSealed,
    Reference,
    RetryMessage,
    SealMessage,
    Turn,
)
from contracts.enums import ErrorCode, Role
from contracts.rpc import Actor, ErrorReply, Page
from contracts.users import UserDeleted
from servicekit.rpc_client import RemoteError
from support.cursors import NOT_OUR_CURSORS
from unit.fakes.chat import FakeChatService

ModelT = TypeVar("ModelT", bound=BaseModel)
RECENT_TURNS = 3
SWEEP_AFTER = 60.0
MAX_EMISSIONS = 3
REFERENCE = Reference(title="Reset your password", source="reset.md#1", snippet="Forgot?")


def _actor(role: Role) -> Actor:
    return Actor(id=uuid.uuid4(), role=role)


@pytest.fixture
def service() -> FakeChatService:
    limits = ChatLimits(
        recent_turns=RECENT_TURNS, sweep_after_seconds=SWEEP_AFTER, max_emissions=MAX_EMISSIONS
    )
    return FakeChatService(limits=limits)


@pytest.fixture
def customer() -> Actor:
    return _actor(Role.CUSTOMER)


@pytest.fixture
def agent() -> Actor:
    return _actor(Role.AGENT)


@pytest.fixture
def admin() -> Actor:
    return _actor(Role.ADMIN)


async def _call(service: FakeChatService, command: Command, reply: type[ModelT]) -> ModelT:
    return reply.model_validate_json(await service.rpc.call(command))


async def _refused(service: FakeChatService, command: Command) -> ErrorReply:
    with pytest.raises(RemoteError) as refused:
        await service.rpc.call(command)
    return refused.value.reply


def _is(reply: ErrorReply, code: ErrorCode, detail: str | None = None) -> bool:
    return reply.code == code and (detail is None or reply.detail == detail)


async def _chat(service: FakeChatService, owner: Actor, title: str | None = None) -> ChatPublic:
    return await _call(service, CreateChat(actor=owner, data=ChatCreate(title=title)), ChatPublic)


async def _post(
    service: FakeChatService, owner: Actor, chat: ChatPublic, content: str, key: str | None = None
) -> MessagePublic:
    command = AddMessage(actor=owner, chat_id=chat.id, content=content, idempotency_key=key)
    return await _call(service, command, MessagePublic)


async def _seal(service: FakeChatService, message: MessagePublic, answer: str) -> MessagePublic:
    command = SealMessage(
        message_id=message.id, ai_response=answer, references=[REFERENCE], model="m"
    )
    return await _call(service, command, MessagePublic)


async def _fail(service: FakeChatService, message: MessagePublic) -> MessagePublic:
    command = FailMessage(message_id=message.id, error="the model is down")
    return await _call(service, command, MessagePublic)


async def _get(service: FakeChatService, actor: Actor, message: MessagePublic) -> MessagePublic:
    command = GetMessage(actor=actor, chat_id=message.chat_id, message_id=message.id)
    return await _call(service, command, MessagePublic)


# Chats


async def test_a_chat_is_opened_with_a_default_title_and_announced(
    service: FakeChatService, customer: Actor
) -> None:
    untitled = await _chat(service, customer)
    titled = await _chat(service, customer, "  Billing question ")
    assert (untitled.title, untitled.user_id) == ("New chat", customer.id)
    assert titled.title == "Billing question"
    assert service.events(ChatCreated) == [
        ChatCreated(**untitled.model_dump()),
        ChatCreated(**titled.model_dump()),
    ]


async def test_a_chat_is_seen_by_its_owner_and_staff_only(
    service: FakeChatService, customer: Actor, agent: Actor, admin: Actor
) -> None:
    chat = await _chat(service, customer)
    for reader in (customer, agent, admin):
        assert await _call(service, GetChat(actor=reader, chat_id=chat.id), ChatPublic) == chat
    other = _actor(Role.CUSTOMER)
    refused = await _refused(service, GetChat(actor=other, chat_id=chat.id))
    assert _is(refused, ErrorCode.NOT_FOUND, "chat not found")
    missing = await _refused(service, GetChat(actor=agent, chat_id=uuid.uuid4()))
    assert _is(missing, ErrorCode.NOT_FOUND, "chat not found")


async def test_chat_lists_are_newest_first_and_a_customers_own(
    service: FakeChatService, customer: Actor, agent: Actor
) -> None:
    mine = [await _chat(service, customer, f"chat {i}") for i in range(3)]
    other = _actor(Role.CUSTOMER)
    theirs = await _chat(service, other)
    first = await _call(service, ListChats(actor=customer, limit=2), Page[ChatPublic])
    assert first.next_cursor is not None
    rest = await _call(
        service, ListChats(actor=customer, limit=2, cursor=first.next_cursor), Page[ChatPublic]
    )
    assert [c.id for c in first.items + rest.items] == [c.id for c in reversed(mine)]
    assert rest.next_cursor is None
    refused = await _refused(service, ListChats(actor=customer, user_id=other.id))
    assert _is(refused, ErrorCode.FORBIDDEN, "customers may list only their own chats")
    by_agent = await _call(service, ListChats(actor=agent, user_id=other.id), Page[ChatPublic])
    assert [c.id for c in by_agent.items] == [theirs.id]
    everyone = await _call(service, ListChats(actor=agent), Page[ChatPublic])
    assert len(everyone.items) == 4


async def test_a_hard_deleted_users_chats_and_messages_are_gone(
    service: FakeChatService, customer: Actor, admin: Actor
) -> None:
    chat = await _chat(service, customer)
    message = await _post(service, customer, chat, "How do I delete my account?")
    await service.react(UserDeleted(user_id=customer.id, hard=False))
    assert await _call(service, GetChat(actor=admin, chat_id=chat.id), ChatPublic) == chat
    await service.react(UserDeleted(user_id=customer.id, hard=True))
    gone = await _refused(service, GetChat(actor=admin, chat_id=chat.id))
    assert _is(gone, ErrorCode.NOT_FOUND, "chat not found")
    listed = await _call(service, ListChats(actor=admin, user_id=customer.id), Page[ChatPublic])
    assert listed.items == []
    refused = await _refused(service, GetMessage(actor=admin, message_id=message.id))
    assert _is(refused, ErrorCode.NOT_FOUND, "message not found")
    await service.react(UserDeleted(user_id=customer.id, hard=True))  # again: nothing happens


# Posting


async def test_the_owner_posts_and_the_ai_worker_hears_of_it(
    service: FakeChatService, customer: Actor
) -> None:
    chat = await _chat(service, customer)
    message = await _post(service, customer, chat, "  How do I reset my password? ")
    assert (message.chat_id, message.user_input) == (chat.id, "How do I reset my password?")
    assert (message.status, message.ai_response, message.sealed_at) == ("pending", None, None)
    assert service.events(MessageCreated) == [
        MessageCreated(message=message, user_id=customer.id, recent_turns=[], attempt=1)
    ]
    assert await _get(service, customer, message) == message


async def test_only_the_owner_posts(
    service: FakeChatService, customer: Actor, agent: Actor, admin: Actor
) -> None:
    chat = await _chat(service, customer)
    for staff in (agent, admin):
        refused = await _refused(service, AddMessage(actor=staff, chat_id=chat.id, content="hi"))
        assert _is(refused, ErrorCode.FORBIDDEN, "only the chat's owner may post in it")
    stranger = _actor(Role.CUSTOMER)
    hidden = await _refused(service, AddMessage(actor=stranger, chat_id=chat.id, content="hi"))
    assert _is(hidden, ErrorCode.NOT_FOUND, "chat not found")
    missing = await _refused(
        service, AddMessage(actor=customer, chat_id=uuid.uuid4(), content="hi")
    )
    assert _is(missing, ErrorCode.NOT_FOUND, "chat not found")
    assert service.events(MessageCreated) == []


async def test_an_idempotency_key_returns_the_first_message(
    service: FakeChatService, customer: Actor
) -> None:
    chat = await _chat(service, customer)
    first = await _post(service, customer, chat, "How do I invite teammates?", key="k1")
    again = await _post(service, customer, chat, "How do I invite teammates?", key="k1")
    assert again == first
    assert len(service.events(MessageCreated)) == 1
    other = AddMessage(
        actor=customer, chat_id=chat.id, content="Something else", idempotency_key="k1"
    )
    refused = await _refused(service, other)
    assert _is(refused, ErrorCode.CONFLICT, "this Idempotency-Key was used with other content")
    elsewhere = await _post(
        service, customer, await _chat(service, customer), "Something else", key="k1"
    )
    assert elsewhere.id != first.id, "a key is the chat's own"
    listed = await _call(
        service, ListMessages(actor=customer, chat_id=chat.id), Page[MessagePublic]
    )
    assert [m.id for m in listed.items] == [first.id]


async def test_a_new_message_carries_the_recent_sealed_turns_oldest_first(
    service: FakeChatService, customer: Actor
) -> None:
    chat = await _chat(service, customer)
    sealed = []
    for i in range(RECENT_TURNS + 1):
        message = await _post(service, customer, chat, f"question {i}")
        sealed.append(await _seal(service, message, f"answer {i}"))
    await _fail(service, await _post(service, customer, chat, "a failed one"))
    await _post(service, customer, chat, "a pending one")
    await _post(service, customer, await _chat(service, customer), "another chat's")
    latest = await _post(service, customer, chat, "the latest")
    created = service.events(MessageCreated)[-1]
    assert created.message == latest
    assert created.recent_turns == [
        Turn(user_input=m.user_input, ai_response=m.ai_response or "")
        for m in sealed[-RECENT_TURNS:]
    ]


# Reading


async def test_a_message_is_read_in_its_own_chat_by_those_who_see_the_chat(
    service: FakeChatService, customer: Actor, agent: Actor
) -> None:
    chat = await _chat(service, customer)
    message = await _post(service, customer, chat, "What are the plans?")
    assert await _get(service, agent, message) == message
    elsewhere = await _chat(service, customer)
    wrong_chat = GetMessage(actor=customer, chat_id=elsewhere.id, message_id=message.id)
    assert _is(await _refused(service, wrong_chat), ErrorCode.NOT_FOUND, "message not found")
    stranger = GetMessage(actor=_actor(Role.CUSTOMER), message_id=message.id)
    assert _is(await _refused(service, stranger), ErrorCode.NOT_FOUND, "message not found")
    missing = GetMessage(actor=agent, message_id=uuid.uuid4())
    assert _is(await _refused(service, missing), ErrorCode.NOT_FOUND, "message not found")


async def test_a_message_ref_says_whose_message_it_is(
    service: FakeChatService, customer: Actor, agent: Actor
) -> None:
    chat = await _chat(service, customer)
    message = await _post(service, customer, chat, "Can I get a refund?")
    for reader in (customer, agent):
        ref = await _call(service, GetMessageRef(actor=reader, message_id=message.id), MessageRef)
        assert ref == MessageRef(
            message_id=message.id, chat_id=chat.id, user_id=customer.id, status="pending"
        )
    refused = await _refused(
        service, GetMessageRef(actor=_actor(Role.CUSTOMER), message_id=message.id)
    )
    assert _is(refused, ErrorCode.NOT_FOUND, "message not found")


async def test_messages_are_listed_oldest_first(
    service: FakeChatService, customer: Actor, agent: Actor
) -> None:
    chat = await _chat(service, customer)
    sent = [(await _post(service, customer, chat, f"question {i}")).id for i in range(3)]
    first = await _call(
        service, ListMessages(actor=agent, chat_id=chat.id, limit=2), Page[MessagePublic]
    )
    rest = await _call(
        service,
        ListMessages(actor=customer, chat_id=chat.id, limit=2, cursor=first.next_cursor),
        Page[MessagePublic],
    )
    assert [m.id for m in first.items + rest.items] == sent
    assert rest.next_cursor is None
    hidden = ListMessages(actor=_actor(Role.CUSTOMER), chat_id=chat.id)
    assert _is(await _refused(service, hidden), ErrorCode.NOT_FOUND, "chat not found")


@pytest.mark.parametrize("cursor", NOT_OUR_CURSORS)
async def test_a_cursor_we_did_not_make_answers_invalid_cursor(
    service: FakeChatService, customer: Actor, cursor: str
) -> None:
    chat = await _chat(service, customer)
    for command in (
        ListChats(actor=customer, cursor=cursor),
        ListMessages(actor=customer, chat_id=chat.id, cursor=cursor),
    ):
        refused = await _refused(service, command)
        assert _is(refused, ErrorCode.INVALID_CURSOR, "cursor is not one this API returned")
        assert [error.loc for error in refused.errors] == [["query", "cursor"]]


# Sealing, failing, retrying


async def test_sealing_is_idempotent(service: FakeChatService, customer: Actor) -> None:
    chat = await _chat(service, customer)
    message = await _post(service, customer, chat, "How do I export my data?")
    sealed = await _seal(service, message, "Settings, then Export.")
    assert (sealed.status, sealed.ai_response, sealed.model) == (
        "sealed",
        "Settings, then Export.",
        "m",
    )
    assert sealed.references == [REFERENCE]
    assert sealed.sealed_at is not None
    again = await _seal(service, message, "Another answer")
    assert again == sealed == await _get(service, customer, message)
    assert service.events(MessageSealed) == [MessageSealed(**sealed.model_dump())]
    assert service.finals.announced == [sealed]
    assert await _fail(service, message) == sealed, "a sealed message never fails"
    assert service.events(MessageFailed) == []
    unknown = SealMessage(message_id=uuid.uuid4(), ai_response="a", model="m")
    assert _is(await _refused(service, unknown), ErrorCode.NOT_FOUND, "message not found")


async def test_a_failed_message_is_retried_and_heard_of_again(
    service: FakeChatService, customer: Actor
) -> None:
    chat = await _chat(service, customer)
    message = await _post(service, customer, chat, "How do I track time?")
    failed = await _fail(service, message)
    assert (failed.status, failed.error) == ("failed", "the model is down")
    assert await _fail(service, message) == failed
    assert service.events(MessageFailed) == [MessageFailed(**failed.model_dump())]
    assert service.finals.announced == [failed]
    retry = RetryMessage(actor=customer, chat_id=chat.id, message_id=message.id)
    reopened = await _call(service, retry, MessagePublic)
    assert (reopened.status, reopened.error) == ("pending", None)
    created = service.events(MessageCreated)
    assert len(created) == 2
    assert created[-1] == MessageCreated(message=reopened, user_id=customer.id, attempt=1)
    refused = await _refused(service, retry)
    assert _is(
        refused, ErrorCode.CONFLICT, "only a failed message can be retried; this one is pending"
    )
    await _seal(service, message, "Use the timer.")
    refused = await _refused(service, retry)
    assert _is(
        refused, ErrorCode.CONFLICT, "only a failed message can be retried; this one is sealed"
    )
    assert len(service.events(MessageCreated)) == 2


async def test_who_may_retry(
    service: FakeChatService, customer: Actor, agent: Actor, admin: Actor
) -> None:
    chat = await _chat(service, customer)
    message = await _fail(service, await _post(service, customer, chat, "Why?"))
    by_agent = RetryMessage(actor=agent, chat_id=chat.id, message_id=message.id)
    refused = await _refused(service, by_agent)
    assert _is(
        refused, ErrorCode.FORBIDDEN, "only the chat's owner or an admin may retry a message"
    )
    stranger = RetryMessage(actor=_actor(Role.CUSTOMER), chat_id=chat.id, message_id=message.id)
    missing = RetryMessage(actor=stranger.actor, chat_id=chat.id, message_id=uuid.uuid4())
    refused = await _refused(service, stranger)
    assert refused == await _refused(service, missing), "someone else's is as if it did not exist"
    assert _is(refused, ErrorCode.NOT_FOUND, "message not found")
    elsewhere = await _chat(service, customer)
    wrong_chat = RetryMessage(actor=customer, chat_id=elsewhere.id, message_id=message.id)
    assert _is(await _refused(service, wrong_chat), ErrorCode.NOT_FOUND, "message not found")
    by_admin = RetryMessage(actor=admin, chat_id=chat.id, message_id=message.id)
    assert (await _call(service, by_admin, MessagePublic)).status == "pending"


# The sweeper


async def test_a_message_left_pending_is_emitted_again_then_failed(
    service: FakeChatService, customer: Actor
) -> None:
    chat = await _chat(service, customer)
    answered = await _post(service, customer, chat, "answered in time")
    await _seal(service, answered, "yes")
    stuck = await _post(service, customer, chat, "never answered")
    service.data.clock.advance(SWEEP_AFTER / 2)
    assert await sweep(service.unit_of_work()) == 0, "not stale yet"
    attempts = [e.attempt for e in service.events(MessageCreated) if e.message.id == stuck.id]
    assert attempts == [1]
    for attempt in range(2, MAX_EMISSIONS + 1):
        service.data.clock.advance(SWEEP_AFTER)
        assert await sweep(service.unit_of_work()) == 1
        created = service.events(MessageCreated)[-1]
        assert (created.message.id, created.attempt) == (stuck.id, attempt)
        assert created.recent_turns == [Turn(user_input="answered in time", ai_response="yes")]
        assert (await _get(service, customer, stuck)).status == "pending"
    service.data.clock.advance(SWEEP_AFTER)
    assert await sweep(service.unit_of_work()) == 1
    failed = await _get(service, customer, stuck)
    assert (failed.status, failed.error) == ("failed", f"no answer after {MAX_EMISSIONS} attempts")
    assert service.events(MessageFailed) == [MessageFailed(**failed.model_dump())]
    assert service.finals.announced[-1] == failed
    assert len(service.events(MessageCreated)) == 1 + MAX_EMISSIONS
    service.data.clock.advance(SWEEP_AFTER)
    assert await sweep(service.unit_of_work()) == 0, "nothing left pending"
