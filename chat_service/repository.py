"""Queries of the ``chat`` schema. Returns rows and models; raises nothing HTTP-ish."""

import uuid
from itertools import chain
from typing import Any

import orjson
from sqlalchemy import (
    Insert,
    Integer,
    Select,
    Text,
    Uuid,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from chat_service.models import Chat, Message, outbox, status_is
from contracts.chat import MessagePublic
from contracts.enums import MessageStatus
from contracts.events import EventTypes
from servicekit.db import Queries, Sql
from servicekit.outbox import TRACE_COLUMNS, committed, trace_binds, trace_values
from servicekit.pagination import Key, keyset_past

MESSAGE_COLUMNS = tuple(Message.__table__.c[name] for name in MessagePublic.model_fields)
_WITH_OWNER = Sql.of(
    select(*MESSAGE_COLUMNS, Chat.user_id.label("owner_id"))
    .join(Chat, Chat.id == Message.chat_id)
    .where(Message.id == bindparam("message_id"))
)


def _public_json(row: Any) -> Any:
    """The ``MessagePublic`` JSON of a message row, built in SQL."""
    return func.jsonb_build_object(
        *chain.from_iterable((literal(name), row.c[name]) for name in MessagePublic.model_fields)
    )


def _created_event(message: Any, owner: Any, *, chat_id: Any) -> Select[Any]:
    """The outbox row of ``message.created`` for the message row ``message`` (a table or CTE
    with the message's columns and ``emissions``) in a chat owned by ``owner``: the message,
    its owner, the chat's last ``:turns`` sealed messages before it (oldest first) and the
    attempt. The caller says where the row comes from (``select_from``, ``where``)."""
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
    turn = func.jsonb_build_object(
        literal("user_input"),
        turns.c.user_input,
        literal("ai_response"),
        func.coalesce(turns.c.ai_response, literal("")),
    )
    recent = select(
        func.coalesce(
            func.jsonb_agg(aggregate_order_by(turn, turns.c.created_at, turns.c.id)),
            cast(literal("[]"), JSONB),
        )
    ).scalar_subquery()
    data = func.jsonb_build_object(
        literal("message"),
        _public_json(message),
        literal("user_id"),
        owner,
        literal("recent_turns"),
        recent,
        literal("attempt"),
        message.c.emissions,
    )
    return select(
        bindparam("event_id", type_=Uuid), literal(EventTypes.MESSAGE_CREATED, Text)
    ).add_columns(cast(message.c.id, Text), data, *trace_binds())


def _event_values() -> dict[str, Any]:
    """What the statements above leave to run time for the event they record: a new id
    (``:event_id``) and the current trace context (``trace_binds()``)."""
    return {"event_id": uuid.uuid4(), **trace_values()}


def _record(event: Select[Any]) -> Insert:
    """Insert the outbox row ``event`` selects (id, type, subject, data, trace context)."""
    return insert(outbox).from_select(["id", "type", "subject", "data", *TRACE_COLUMNS], event)


def _add() -> Sql:
    """Post a message in a chat the actor owns and write ``message.created`` with the recent
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
    created = _created_event(new, chat.c.user_id, chat_id=bindparam("chat_id"))
    event = _record(created.select_from(new.join(chat, true())))
    public = [new.c[name] for name in MessagePublic.model_fields]
    return Sql.of(select(*public).add_cte(event.cte("event")))


def _emitted() -> Insert:
    """``message.created`` again for the message ``:message_id`` as it is now (retried, or
    swept after waiting too long), built as ``_add`` builds it."""
    message = Message.__table__.alias("message")
    created = _created_event(message, Chat.user_id, chat_id=message.c.chat_id)
    return _record(
        created.select_from(message.join(Chat, Chat.id == message.c.chat_id)).where(
            message.c.id == bindparam("message_id")
        )
    )


_ADD = _add()
_EMIT = _emitted()


def _finish(**values: Any) -> Sql:
    """Move a pending message to its final state and write the event, in one statement: a
    data-modifying CTE updates the row, and the outbox row is built from what it returned."""
    done = (
        update(Message)
        .where(Message.id == bindparam("message_id"), Message.status == MessageStatus.PENDING)
        .values(**values)
        .returning(*MESSAGE_COLUMNS)
        .cte("done")
    )
    event = _record(
        select(bindparam("event_id", type_=Uuid), bindparam("event_type", type_=Text)).add_columns(
            cast(done.c.id, Text), _public_json(done), *trace_binds()
        )
    )
    return Sql.of(select(done).add_cte(event.cte("event")))


_SEAL = _finish(
    status=MessageStatus.SEALED,
    ai_response=bindparam("ai_response", type_=Text),
    references=bindparam("references", type_=JSONB),
    model=bindparam("model", type_=Text),
    sealed_at=func.now(),
    error=None,
)
_FAIL = _finish(status=MessageStatus.FAILED, error=bindparam("error", type_=Text))


class MessageQueries:
    """The message paths the pipeline takes for every message, one statement each."""

    def __init__(self, queries: Queries) -> None:
        self.queries = queries

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
        """The new message, or None if none was made (see ``_add``)."""
        return await self._with_event(
            _ADD,
            message_id=message_id,
            actor_id=actor_id,
            chat_id=chat_id,
            user_input=user_input,
            idempotency_key=key,
            turns=turns,
        )

    async def with_owner(self, message_id: uuid.UUID) -> tuple[MessagePublic, uuid.UUID] | None:
        """The message and the user whose chat it is in."""
        row = await self.queries.one(_WITH_OWNER, message_id=message_id)
        if row is None:
            return None
        values = dict(row)
        owner: uuid.UUID = values.pop("owner_id")
        return MessagePublic.model_validate(values), owner

    async def seal(
        self, message_id: uuid.UUID, *, ai_response: str, references: list[Any], model: str
    ) -> MessagePublic | None:
        """Seal a pending message and record ``message.sealed``; None if it was not pending."""
        return await self._with_event(
            _SEAL,
            message_id=message_id,
            event_type=EventTypes.MESSAGE_SEALED,
            ai_response=ai_response,
            references=orjson.dumps(references).decode(),
            model=model,
        )

    async def fail(self, message_id: uuid.UUID, *, error: str) -> MessagePublic | None:
        """Fail a pending message and record ``message.failed``; None if it was not pending."""
        return await self._with_event(
            _FAIL, message_id=message_id, event_type=EventTypes.MESSAGE_FAILED, error=error
        )

    async def _with_event(self, statement: Sql, **values: Any) -> MessagePublic | None:
        """Run a statement that changes a message and writes its outbox event: the event's id
        and the current trace context are given here. A lone statement commits as it ends."""
        changed = await self.queries.one_as(MessagePublic, statement, **_event_values(), **values)
        if changed is not None:
            committed()
        return changed


class ChatRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_chat(self, *, user_id: uuid.UUID, title: str) -> Chat:
        chat = Chat(user_id=user_id, title=title)
        self.session.add(chat)
        await self.session.flush()
        await self.session.refresh(chat)
        return chat

    async def get_chat(self, chat_id: uuid.UUID) -> Chat | None:
        return await self.session.get(Chat, chat_id)

    async def chats_page(
        self, *, user_id: uuid.UUID | None, after: Key | None, limit: int
    ) -> list[Chat]:
        """Newest first, ``limit + 1`` rows."""
        stmt = select(Chat).order_by(Chat.created_at.desc(), Chat.id.desc()).limit(limit + 1)
        if user_id is not None:
            stmt = stmt.where(Chat.user_id == user_id)
        if after is not None:
            stmt = stmt.where(keyset_past(Chat.created_at, Chat.id, after, newest_first=True))
        return list((await self.session.execute(stmt)).scalars())

    async def delete_chats_of(self, user_id: uuid.UUID) -> int:
        result = await self.session.execute(delete(Chat).where(Chat.user_id == user_id))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def get_message(self, message_id: uuid.UUID) -> tuple[Message, Chat] | None:
        stmt = (
            select(Message, Chat)
            .join(Chat, Chat.id == Message.chat_id)
            .where(Message.id == message_id)
        )
        row = (await self.session.execute(stmt)).one_or_none()
        return (row[0], row[1]) if row else None

    async def message_by_key(self, chat_id: uuid.UUID, key: str) -> Message | None:
        stmt = select(Message).where(Message.chat_id == chat_id, Message.idempotency_key == key)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def messages_page(
        self, chat_id: uuid.UUID, *, after: Key | None, limit: int
    ) -> list[Message]:
        """Oldest first, ``limit + 1`` rows."""
        stmt = (
            select(Message)
            .where(Message.chat_id == chat_id)
            .order_by(Message.created_at, Message.id)
            .limit(limit + 1)
        )
        if after is not None:
            stmt = stmt.where(
                keyset_past(Message.created_at, Message.id, after, newest_first=False)
            )
        return list((await self.session.execute(stmt)).scalars())

    async def emit_created(self, message_id: uuid.UUID, *, turns: int) -> None:
        """Record ``message.created`` again for a message, as it is in this transaction."""
        await self.session.execute(
            _EMIT,
            {"message_id": message_id, "turns": turns, **_event_values()},
        )

    async def reopen_failed(self, message_id: uuid.UUID) -> Message | None:
        stmt = (
            update(Message)
            .where(Message.id == message_id, Message.status == MessageStatus.FAILED)
            .values(status=MessageStatus.PENDING, error=None, emissions=1, emitted_at=func.now())
            .returning(Message)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def claim_stale_pending(self, older_than_seconds: float, limit: int) -> list[Message]:
        """Pending messages not (re-)emitted for a while, locked for this sweeper alone."""
        stmt = (
            select(Message)
            .where(
                status_is(MessageStatus.PENDING),
                Message.emitted_at
                < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, older_than_seconds),
            )
            .order_by(Message.emitted_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.execute(stmt)).scalars())
