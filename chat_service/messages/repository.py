"""Where messages are kept: what the use cases need (``MessageStore``) and its SQL.

Every message takes the same path: posted, then sealed or failed. Each step is ONE statement
on the engine's own connections, no transaction block around it: a data-modifying CTE changes
the message and writes its event to the outbox, built by ``servicekit.outbox.sql_event`` from
the event's model. A lone statement commits as it ends; the repository then tells the unit of
work (``written``), which wakes the outbox relay. Reads are single statements too.
"""

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from sqlalchemy import (
    ColumnElement,
    Float,
    FromClause,
    Insert,
    Integer,
    Text,
    Uuid,
    bindparam,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from chat_service.chats.models import Chat
from chat_service.messages.models import Message, status_is
from chat_service.schema import outbox
from contracts.base import Event
from contracts.chat import (
    MessageCreated,
    MessageFailed,
    MessagePublic,
    MessageSealed,
    Reference,
    Turn,
)
from contracts.enums import MessageStatus
from servicekit.db import Sql
from servicekit.event_rows import SqlEvent, SqlJson, sql_event, sql_event_values, sql_list
from servicekit.pagination import Key, keyset_past
from servicekit.uow import SqlUnitOfWork


@dataclass(frozen=True)
class OwnedMessage:
    """A message and the user whose chat it is in."""

    message: MessagePublic
    owner_id: uuid.UUID


@dataclass(frozen=True)
class StalePending:
    """A message pending since it was last emitted a while ago."""

    id: uuid.UUID
    emissions: int
    """How many times ``message.created`` went out for it."""
    orphaned: bool
    """Its chat is gone."""


class MessageStore(Protocol):
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
        """Post a pending message in a chat ``actor_id`` owns and write ``MessageCreated``
        with the chat's last ``turns`` sealed turns before it. None, and nothing written, if
        the chat is missing or not the actor's, or ``key`` was used in the chat already."""
        ...

    async def with_owner(self, message_id: uuid.UUID) -> OwnedMessage | None: ...

    async def by_key(self, chat_id: uuid.UUID, key: str) -> MessagePublic | None:
        """The message posted in the chat with this idempotency key."""
        ...

    async def page(
        self, chat_id: uuid.UUID, *, after: Key | None, limit: int
    ) -> list[MessagePublic]:
        """Oldest first, ``limit + 1`` rows."""
        ...

    async def seal(
        self, message_id: uuid.UUID, *, ai_response: str, references: list[Reference], model: str
    ) -> MessagePublic | None:
        """Seal a pending message and write ``MessageSealed``; None if it was not pending."""
        ...

    async def fail(self, message_id: uuid.UUID, *, error: str) -> MessagePublic | None:
        """Fail a pending message and write ``MessageFailed``; None if it was not pending."""
        ...

    async def reopen_failed(self, message_id: uuid.UUID, *, turns: int) -> MessagePublic | None:
        """Make a failed message pending again (its first emission) and write
        ``MessageCreated`` as ``add`` does; None if it was not failed."""
        ...

    async def stale_pending(self, *, older_than: float, limit: int) -> list[StalePending]:
        """Pending messages not (re-)emitted for ``older_than`` seconds, oldest first."""
        ...

    async def emit_again(self, message_id: uuid.UUID, *, older_than: float, turns: int) -> bool:
        """If the message is still pending and not emitted for ``older_than`` seconds, count
        one more emission and write ``MessageCreated`` again; whether it did (of two sweepers
        on one message, one does)."""
        ...


MESSAGE_COLUMNS = tuple(Message.__table__.c[name] for name in MessagePublic.model_fields)
_WITH_OWNER = Sql.of(
    select(*MESSAGE_COLUMNS, Chat.user_id.label("owner_id"))
    .join(Chat, Chat.id == Message.chat_id)
    .where(Message.id == bindparam("message_id"))
)
_BY_KEY = Sql.of(
    select(*MESSAGE_COLUMNS).where(
        Message.chat_id == bindparam("chat_id"),
        Message.idempotency_key == bindparam("idempotency_key", type_=Text),
    )
)
_STALE = Sql.of(
    select(Message.id, Message.emissions, Chat.id.is_(None).label("orphaned"))
    .outerjoin(Chat, Chat.id == Message.chat_id)
    .where(
        status_is(MessageStatus.PENDING),
        Message.emitted_at
        < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, bindparam("older_than", type_=Float)),
    )
    .order_by(Message.emitted_at)
    .limit(bindparam("limit", type_=Integer))
)


def _recent_turns(message: FromClause, *, chat_id: Any) -> SqlJson:
    """The chat's last ``:turns`` sealed messages before ``message``, oldest first."""
    turns = (
        select(Message.user_input, Message.ai_response, Message.created_at, Message.id)
        .where(
            Message.chat_id == chat_id,
            status_is(MessageStatus.SEALED),
            Message.created_at < message.c.created_at,
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(bindparam("turns", type_=Integer))
        .correlate(message)
        .subquery("turns")
    )
    return sql_list(
        Turn,
        turns,
        ai_response=func.coalesce(turns.c.ai_response, literal("")),
        order_by=(turns.c.created_at, turns.c.id),
    )


def _created(message: FromClause, owner: ColumnElement[Any], *, chat_id: Any) -> SqlEvent:
    """``MessageCreated`` of the message row ``message`` (a CTE with the message's columns and
    ``emissions``) in a chat owned by ``owner``: the message, its owner, the chat's recent
    turns and which emission this is."""
    return sql_event(
        MessageCreated,
        subject=message.c.id,
        message=message,
        user_id=owner,
        recent_turns=_recent_turns(message, chat_id=chat_id),
        attempt=message.c.emissions,
    )


def _changed_message(changed: FromClause, event: Insert) -> Sql:
    """The statement that runs the CTE ``changed`` and the outbox insert ``event`` built from
    it, and returns the changed message."""
    public = [changed.c[name] for name in MessagePublic.model_fields]
    return Sql.of(select(*public).add_cte(event.cte("event")))


def _add() -> tuple[Sql, SqlEvent]:
    """Post a message in a chat the actor owns and write ``MessageCreated`` with the recent
    turns, in one statement. Nothing is inserted (no row comes back) when the chat is missing
    or not the actor's, or when the idempotency key was used already in the chat."""
    chat = (
        select(Chat.id, Chat.user_id)
        .where(Chat.id == bindparam("chat_id"), Chat.user_id == bindparam("actor_id"))
        .cte("chat")
    )
    new = (
        pg_insert(Message)
        .from_select(
            ["id", "chat_id", "user_input", "idempotency_key"],
            select(
                func.coalesce(bindparam("message_id", type_=Uuid), func.gen_random_uuid()),
                chat.c.id,
                bindparam("user_input", type_=Text),
                bindparam("idempotency_key", type_=Text),
            ),
        )
        .on_conflict_do_nothing(
            index_elements=[Message.chat_id, Message.idempotency_key],
            index_where=Message.idempotency_key.is_not(None),
        )
        .returning(*MESSAGE_COLUMNS, Message.emissions)
        .cte("new")
    )
    # The statement's snapshot does not hold the new message: the turns are those before it.
    created = _created(new, chat.c.user_id, chat_id=bindparam("chat_id"))
    event = created.into(outbox, created.row().select_from(new.join(chat, true())))
    return _changed_message(new, event), created


def _reopen() -> tuple[Sql, SqlEvent]:
    """Make a failed message pending again and write ``MessageCreated`` (built as ``_add``
    builds it), in one statement; no row if the message was not failed."""
    reopened = (
        update(Message)
        .where(Message.id == bindparam("message_id"), Message.status == MessageStatus.FAILED)
        .values(status=MessageStatus.PENDING, error=None, emissions=1, emitted_at=func.now())
        .returning(*MESSAGE_COLUMNS, Message.emissions)
        .cte("reopened")
    )
    return _emitted(reopened)


def _emit_again() -> tuple[Sql, SqlEvent]:
    """Count one more emission of a message still pending and stale, and write
    ``MessageCreated`` again, in one statement. Two sweepers on one message: the second waits
    for the first's row lock, then sees the message fresh, and changes nothing."""
    again = (
        update(Message)
        .where(
            Message.id == bindparam("message_id"),
            status_is(MessageStatus.PENDING),
            Message.emitted_at
            < func.now()
            - func.make_interval(0, 0, 0, 0, 0, 0, bindparam("older_than", type_=Float)),
        )
        .values(emissions=Message.emissions + 1, emitted_at=func.now())
        .returning(*MESSAGE_COLUMNS, Message.emissions)
        .cte("again")
    )
    return _emitted(again)


def _emitted(message: FromClause) -> tuple[Sql, SqlEvent]:
    """``MessageCreated`` again for the message the CTE ``message`` changed (retried, or swept
    after waiting too long), built as ``_add`` builds it."""
    chat = Chat.__table__
    created = _created(message, chat.c.user_id, chat_id=message.c.chat_id)
    event = created.into(
        outbox, created.row().select_from(message.join(chat, chat.c.id == message.c.chat_id))
    )
    return _changed_message(message, event), created


def _finish(event_type: type[Event], **values: Any) -> tuple[Sql, SqlEvent]:
    """Move a pending message to its final state and write the event, in one statement: a
    data-modifying CTE updates the row, and the outbox row is built from what it returned."""
    done = (
        update(Message)
        .where(Message.id == bindparam("message_id"), Message.status == MessageStatus.PENDING)
        .values(**values)
        .returning(*MESSAGE_COLUMNS)
        .cte("done")
    )
    final = sql_event(event_type, done, subject=done.c.id)
    return Sql.of(select(done).add_cte(final.into(outbox).cte("event"))), final


_ADD, _CREATED_ON_ADD = _add()
_REOPEN, _CREATED_ON_RETRY = _reopen()
_EMIT_AGAIN, _CREATED_AGAIN = _emit_again()
_SEAL, _SEALED = _finish(
    MessageSealed,
    status=MessageStatus.SEALED,
    ai_response=bindparam("ai_response", type_=Text),
    references=bindparam("references", type_=JSONB),
    model=bindparam("model", type_=Text),
    sealed_at=func.now(),
    error=None,
)
_FAIL, _FAILED = _finish(
    MessageFailed, status=MessageStatus.FAILED, error=bindparam("error", type_=Text)
)
SQL_EVENTS: tuple[SqlEvent, ...] = (
    _CREATED_ON_ADD,
    _CREATED_ON_RETRY,
    _CREATED_AGAIN,
    _SEALED,
    _FAILED,
)
"""Every event the statements above build in SQL (their payloads are checked by unit tests)."""


class MessageRepository:
    """``MessageStore`` on Postgres: every method is one statement."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

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
        return await self._writing(
            MessageCreated,
            _ADD,
            message_id=message_id,
            actor_id=actor_id,
            chat_id=chat_id,
            user_input=user_input,
            idempotency_key=key,
            turns=turns,
        )

    async def with_owner(self, message_id: uuid.UUID) -> OwnedMessage | None:
        row = await self._uow.queries.one(_WITH_OWNER, message_id=message_id)
        if row is None:
            return None
        values = dict(row)
        owner: uuid.UUID = values.pop("owner_id")
        return OwnedMessage(MessagePublic.model_validate(values), owner)

    async def by_key(self, chat_id: uuid.UUID, key: str) -> MessagePublic | None:
        return await self._uow.queries.one_as(
            MessagePublic, _BY_KEY, chat_id=chat_id, idempotency_key=key
        )

    async def page(
        self, chat_id: uuid.UUID, *, after: Key | None, limit: int
    ) -> list[MessagePublic]:
        stmt = (
            select(*MESSAGE_COLUMNS)
            .where(Message.chat_id == chat_id)
            .order_by(Message.created_at, Message.id)
            .limit(limit + 1)
        )
        if after is not None:
            stmt = stmt.where(
                keyset_past(Message.created_at, Message.id, after, newest_first=False)
            )
        return await self._uow.queries.all_as(MessagePublic, stmt)

    async def seal(
        self, message_id: uuid.UUID, *, ai_response: str, references: list[Reference], model: str
    ) -> MessagePublic | None:
        return await self._writing(
            MessageSealed,
            _SEAL,
            message_id=message_id,
            ai_response=ai_response,
            references=orjson.dumps([r.model_dump() for r in references]).decode(),
            model=model,
        )

    async def fail(self, message_id: uuid.UUID, *, error: str) -> MessagePublic | None:
        return await self._writing(MessageFailed, _FAIL, message_id=message_id, error=error)

    async def reopen_failed(self, message_id: uuid.UUID, *, turns: int) -> MessagePublic | None:
        return await self._writing(MessageCreated, _REOPEN, message_id=message_id, turns=turns)

    async def stale_pending(self, *, older_than: float, limit: int) -> list[StalePending]:
        rows = await self._uow.queries.all(_STALE, older_than=older_than, limit=limit)
        return [StalePending(row["id"], row["emissions"], row["orphaned"]) for row in rows]

    async def emit_again(self, message_id: uuid.UUID, *, older_than: float, turns: int) -> bool:
        again = await self._writing(
            MessageCreated, _EMIT_AGAIN, message_id=message_id, older_than=older_than, turns=turns
        )
        return again is not None

    async def _writing(
        self, event: type[Event], statement: Sql, **values: Any
    ) -> MessagePublic | None:
        """Run a statement that changes a message and writes its ``event`` to the outbox (the
        event's id and the current trace context are given here): the changed message, or
        None if it changed nothing. A lone statement commits as it ends: the relay is woken."""
        changed = await self._uow.queries.one_as(
            MessagePublic, statement, **sql_event_values(), **values
        )
        if changed is not None:
            self._uow.written(event)
        return changed
