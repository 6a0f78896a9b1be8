"""The chat service's stores in memory, for unit tests of its use cases.

``ChatData`` is the fake database every unit of work of a test shares. What the SQL stores do
inside ``async with uow:`` (a session) is staged and applied at commit; what they do as one
statement that writes its own event (posting, sealing, failing, retrying, sweeping) happens at
once and goes straight to the fake outbox, ``ChatData.published``, as that statement commits
by itself.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

from chat_service.bootstrap import USE_CASES
from chat_service.messages.repository import OwnedMessage, StalePending
from chat_service.settings import ChatLimits
from chat_service.uow import ChatUnitOfWork
from contracts.base import Event
from contracts.chat import (
    ChatPublic,
    MessageCreated,
    MessageFailed,
    MessagePublic,
    MessageSealed,
    Reference,
    Turn,
)
from contracts.enums import MessageStatus
from contracts.events import check_catalogued
from servicekit.pagination import Key
from servicekit.testing import FakeUnitOfWork, InProcessRpc

EventT = TypeVar("EventT", bound=Event)


class FakeClock:
    """The database's ``now()``: a moment later at every statement, and later still when a
    test says time passed."""

    def __init__(self) -> None:
        self._now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        self._now += timedelta(milliseconds=1)
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


@dataclass
class StoredMessage:
    """A row of ``chat.messages``: what the API shows, and what only the service sees."""

    message: MessagePublic
    idempotency_key: str | None
    emissions: int
    emitted_at: datetime


@dataclass
class ChatData:
    """What the fake database holds, shared by every unit of work of a test."""

    chats: dict[uuid.UUID, ChatPublic] = field(default_factory=dict)
    messages: dict[uuid.UUID, StoredMessage] = field(default_factory=dict)
    published: list[Event] = field(default_factory=list)
    """The outbox: every event committed, in order."""
    clock: FakeClock = field(default_factory=FakeClock)

    def written(self, event: Event) -> None:
        """A statement wrote ``event`` and committed it."""
        check_catalogued(event)
        self.published.append(event)


class FakeFinals:
    """Final states announced, in order."""

    def __init__(self) -> None:
        self.announced: list[MessagePublic] = []

    async def announce(self, message: MessagePublic) -> None:
        self.announced.append(message)


def _newest_first(chat: ChatPublic) -> tuple[datetime, uuid.UUID]:
    return chat.created_at, chat.id


class FakeChats:
    """``ChatStore`` in memory."""

    def __init__(self, uow: "FakeChatUnitOfWork", data: ChatData) -> None:
        self._uow, self._data = uow, data

    async def add(self, *, user_id: uuid.UUID, title: str) -> ChatPublic:
        chat = ChatPublic(
            id=uuid.uuid4(), user_id=user_id, title=title, created_at=self._data.clock.now()
        )
        self._uow.stage(lambda: self._data.chats.__setitem__(chat.id, chat))
        return chat

    async def get(self, chat_id: uuid.UUID) -> ChatPublic | None:
        return self._data.chats.get(chat_id)

    async def page(
        self, *, user_id: uuid.UUID | None, after: Key | None, limit: int
    ) -> list[ChatPublic]:
        rows = sorted(
            (c for c in self._data.chats.values() if user_id in (None, c.user_id)),
            key=_newest_first,
            reverse=True,
        )
        if after is not None:
            rows = [c for c in rows if _newest_first(c) < after]
        return rows[: limit + 1]

    async def delete_for_user(self, user_id: uuid.UUID) -> int:
        doomed = {c.id for c in self._data.chats.values() if c.user_id == user_id}

        def delete() -> None:
            for chat_id in doomed:
                del self._data.chats[chat_id]
            for message_id, stored in list(self._data.messages.items()):
                if stored.message.chat_id in doomed:  # ON DELETE CASCADE
                    del self._data.messages[message_id]

        self._uow.stage(delete)
        return len(doomed)


class FakeMessages:
    """``MessageStore`` in memory: every method is a statement of its own, committed at once."""

    def __init__(self, data: ChatData) -> None:
        self._data = data

    def _turns(self, chat_id: uuid.UUID, before: datetime, limit: int) -> list[Turn]:
        sealed = sorted(
            (
                s.message
                for s in self._data.messages.values()
                if s.message.chat_id == chat_id
                and s.message.status == MessageStatus.SEALED
                and s.message.created_at < before
            ),
            key=lambda m: (m.created_at, m.id),
        )
        recent = sealed[len(sealed) - limit :] if limit > 0 else []
        return [Turn(user_input=m.user_input, ai_response=m.ai_response or "") for m in recent]

    def _created(self, stored: StoredMessage, turns: int) -> None:
        message = stored.message
        chat = self._data.chats.get(message.chat_id)
        if chat is None:  # the SQL joins the chat: no chat, no event
            return
        self._data.written(
            MessageCreated(
                message=message,
                user_id=chat.user_id,
                recent_turns=self._turns(message.chat_id, message.created_at, turns),
                attempt=stored.emissions,
            )
        )

    def _change(self, stored: StoredMessage, **values: Any) -> MessagePublic:
        stored.message = stored.message.model_copy(update=values)
        return stored.message

    async def add(
        self,
        *,
        message_id: uuid.UUID | None,
        actor_id: uuid.UUID,
        chat_id: uuid.UUID,
        user_input: str,
        key: str | None,
        turns: int,
    ) -> MessagePublic | None:
        chat = self._data.chats.get(chat_id)
        if chat is None or chat.user_id != actor_id:
            return None
        if key is not None and any(
            s.message.chat_id == chat_id and s.idempotency_key == key
            for s in self._data.messages.values()
        ):
            return None
        new_id = message_id or uuid.uuid4()
        if new_id in self._data.messages:
            raise ValueError(f"duplicate key value: message {new_id} exists")
        now = self._data.clock.now()
        message = MessagePublic(
            id=new_id,
            chat_id=chat_id,
            user_input=user_input,
            ai_response=None,
            status=MessageStatus.PENDING,
            references=[],
            model=None,
            error=None,
            created_at=now,
            sealed_at=None,
        )
        stored = StoredMessage(message, key, emissions=1, emitted_at=now)
        self._data.messages[new_id] = stored
        self._created(stored, turns)
        return message

    async def with_owner(self, message_id: uuid.UUID) -> OwnedMessage | None:
        stored = self._data.messages.get(message_id)
        chat = None if stored is None else self._data.chats.get(stored.message.chat_id)
        if stored is None or chat is None:
            return None
        return OwnedMessage(stored.message, chat.user_id)

    async def by_key(self, chat_id: uuid.UUID, key: str) -> MessagePublic | None:
        for stored in self._data.messages.values():
            if stored.message.chat_id == chat_id and stored.idempotency_key == key:
                return stored.message
        return None

    async def page(
        self, chat_id: uuid.UUID, *, after: Key | None, limit: int
    ) -> list[MessagePublic]:
        rows = sorted(
            (s.message for s in self._data.messages.values() if s.message.chat_id == chat_id),
            key=lambda m: (m.created_at, m.id),
        )
        if after is not None:
            rows = [m for m in rows if (m.created_at, m.id) > after]
        return rows[: limit + 1]

    def _pending(self, message_id: uuid.UUID) -> StoredMessage | None:
        stored = self._data.messages.get(message_id)
        return stored if stored and stored.message.status == MessageStatus.PENDING else None

    async def seal(
        self, message_id: uuid.UUID, *, ai_response: str, references: list[Reference], model: str
    ) -> MessagePublic | None:
        stored = self._pending(message_id)
        if stored is None:
            return None
        sealed = self._change(
            stored,
            status=MessageStatus.SEALED,
            ai_response=ai_response,
            references=references,
            model=model,
            sealed_at=self._data.clock.now(),
            error=None,
        )
        self._data.written(MessageSealed(**sealed.model_dump()))
        return sealed

    async def fail(self, message_id: uuid.UUID, *, error: str) -> MessagePublic | None:
        stored = self._pending(message_id)
        if stored is None:
            return None
        failed = self._change(stored, status=MessageStatus.FAILED, error=error)
        self._data.written(MessageFailed(**failed.model_dump()))
        return failed

    async def reopen_failed(self, message_id: uuid.UUID, *, turns: int) -> MessagePublic | None:
        stored = self._data.messages.get(message_id)
        if stored is None or stored.message.status != MessageStatus.FAILED:
            return None
        reopened = self._change(stored, status=MessageStatus.PENDING, error=None)
        stored.emissions, stored.emitted_at = 1, self._data.clock.now()
        self._created(stored, turns)
        return reopened

    def _stale(self, stored: StoredMessage, older_than: float, now: datetime) -> bool:
        return stored.emitted_at < now - timedelta(seconds=older_than)

    async def stale_pending(self, *, older_than: float, limit: int) -> list[StalePending]:
        now = self._data.clock.now()
        stale = sorted(
            (
                s
                for s in self._data.messages.values()
                if s.message.status == MessageStatus.PENDING and self._stale(s, older_than, now)
            ),
            key=lambda s: s.emitted_at,
        )
        return [
            StalePending(s.message.id, s.emissions, s.message.chat_id not in self._data.chats)
            for s in stale[:limit]
        ]

    async def emit_again(self, message_id: uuid.UUID, *, older_than: float, turns: int) -> bool:
        stored = self._pending(message_id)
        now = self._data.clock.now()
        if stored is None or not self._stale(stored, older_than, now):
            return False
        stored.emissions, stored.emitted_at = stored.emissions + 1, now
        self._created(stored, turns)
        return True


class FakeChatUnitOfWork(FakeUnitOfWork, ChatUnitOfWork):
    """A chat unit of work on ``ChatData``: session changes are staged until commit."""

    def __init__(
        self, data: ChatData, *, limits: ChatLimits | None = None, finals: FakeFinals | None = None
    ) -> None:
        super().__init__(data.published)
        self.chats = FakeChats(self, data)
        self.messages = FakeMessages(data)
        self.limits = limits or ChatLimits()
        self.finals = finals or FakeFinals()
        self._staged: list[Callable[[], None]] = []
        self._open = False

    async def __aenter__(self) -> Self:
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.rollback()
        self._open = False

    def stage(self, change: Callable[[], None]) -> None:
        """A change made in the session, applied if the unit of work commits."""
        if not self._open:
            raise RuntimeError("the session is used inside `async with uow:` only")
        self._staged.append(change)

    async def commit(self) -> None:
        staged, self._staged = self._staged, []
        for change in staged:
            change()
        await super().commit()

    async def rollback(self) -> None:
        self._staged.clear()
        await super().rollback()


@dataclass
class FakeChatService:
    """The chat service in process: its use cases served on ``rpc``, on one ``ChatData``."""

    limits: ChatLimits = field(default_factory=ChatLimits)
    data: ChatData = field(default_factory=ChatData)
    finals: FakeFinals = field(default_factory=FakeFinals)
    rpc: InProcessRpc = field(default_factory=InProcessRpc)

    def __post_init__(self) -> None:
        self.rpc.serve(USE_CASES, self.unit_of_work)

    def unit_of_work(self) -> FakeChatUnitOfWork:
        return FakeChatUnitOfWork(self.data, limits=self.limits, finals=self.finals)

    async def react(self, event: Event) -> None:
        """Handle ``event`` as the service's event consumer would."""
        subscription = USE_CASES.subscriptions[type(event).event_type]
        await subscription.handler(event, self.unit_of_work())

    def events(self, kind: type[EventT]) -> list[EventT]:
        """The events of type ``kind`` committed so far, in order."""
        return [e for e in self.data.published if isinstance(e, kind)]
