"""Where tickets are kept: what the use cases need (``TicketStore``) and its SQL.

Reads are single statements on the engine's own connections (no transaction); changes run in
the unit of work's session, inside ``async with uow:``.
"""

import uuid
from typing import Any, Protocol

from sqlalchemy import ColumnElement, bindparam, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from contracts.enums import IssueType
from contracts.tickets import Change, HistoryEntry, TicketFilter, TicketPublic
from servicekit.db import Sql, now_as_sql
from servicekit.pagination import Key, keyset_past
from servicekit.uow import SqlUnitOfWork
from ticket_service.schema import SCHEMA
from ticket_service.tickets.models import Ticket, TicketChange

Counts = list[tuple[str | None, str | None, int]]
"""(status, issue type, count) rows: by status, by issue type, and the total (both None)."""


class TicketStore(Protocol):
    async def get(self, ticket_id: uuid.UUID) -> TicketPublic | None: ...

    async def for_message(self, message_id: uuid.UUID) -> TicketPublic | None: ...

    async def page(self, flt: TicketFilter, *, after: Key | None, limit: int) -> list[TicketPublic]:
        """Newest first, ``limit + 1`` rows."""
        ...

    async def count(self, flt: TicketFilter) -> int: ...

    async def counts(self) -> Counts: ...

    async def history(self, ticket_id: uuid.UUID) -> list[HistoryEntry]:
        """Oldest first."""
        ...

    async def add_unless_filed(
        self,
        *,
        message_id: uuid.UUID,
        chat_id: uuid.UUID,
        user_id: uuid.UUID,
        reporter_id: uuid.UUID,
        issue_type: IssueType,
        description: str | None,
    ) -> TicketPublic | None:
        """The new ticket; None if its message has one already (the database decides)."""
        ...

    async def id_for_message(self, message_id: uuid.UUID) -> uuid.UUID | None: ...

    async def lock(self, ticket_id: uuid.UUID) -> TicketPublic | None:
        """The ticket, locked until the unit of work ends."""
        ...

    async def change(self, ticket_id: uuid.UUID, values: dict[str, Any]) -> TicketPublic:
        """Set ``values`` (``NOW`` is the transaction's time); the ticket as it is then."""
        ...

    async def record(
        self, ticket_id: uuid.UUID, actor_id: uuid.UUID, changes: list[Change]
    ) -> None:
        """One history row per change."""
        ...

    async def delete_for_user(self, user_id: uuid.UUID) -> int: ...


def _conditions(flt: TicketFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for name in ("status", "issue_type", "priority", "assignee_id", "user_id"):
        value = getattr(flt, name)
        if value is not None:
            conditions.append(getattr(Ticket, name) == value)
    return conditions


PUBLIC_COLUMNS = tuple(Ticket.__table__.c[name] for name in TicketPublic.model_fields)
_GET = Sql.of(select(*PUBLIC_COLUMNS).where(Ticket.id == bindparam("ticket_id")))
_FOR_MESSAGE = Sql.of(select(*PUBLIC_COLUMNS).where(Ticket.message_id == bindparam("message_id")))
_HISTORY = Sql.of(
    select(
        TicketChange.at,
        TicketChange.actor_id,
        TicketChange.field,
        TicketChange.from_value,
        TicketChange.to_value,
    )
    .where(TicketChange.ticket_id == bindparam("ticket_id"))
    .order_by(TicketChange.id)
)
_COUNTS = text(
    f"SELECT status::text, issue_type::text, count(*) FROM {SCHEMA}.tickets"
    " GROUP BY GROUPING SETS ((status), (issue_type), ())"
)


class TicketRepository:
    """``TicketStore`` on Postgres."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def get(self, ticket_id: uuid.UUID) -> TicketPublic | None:
        return await self._uow.queries.one_as(TicketPublic, _GET, ticket_id=ticket_id)

    async def for_message(self, message_id: uuid.UUID) -> TicketPublic | None:
        return await self._uow.queries.one_as(TicketPublic, _FOR_MESSAGE, message_id=message_id)

    async def page(self, flt: TicketFilter, *, after: Key | None, limit: int) -> list[TicketPublic]:
        conditions = _conditions(flt)
        if after is not None:
            conditions.append(keyset_past(Ticket.created_at, Ticket.id, after, newest_first=True))
        stmt = (
            select(*PUBLIC_COLUMNS)
            .where(*conditions)
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(limit + 1)
        )
        return await self._uow.queries.all_as(TicketPublic, stmt)

    async def count(self, flt: TicketFilter) -> int:
        stmt = select(func.count()).select_from(Ticket).where(*_conditions(flt))
        return int(await self._uow.queries.scalar(stmt))

    async def counts(self) -> Counts:
        rows = await self._uow.queries.all(_COUNTS)
        return [(row[0], row[1], int(row[2])) for row in rows]

    async def history(self, ticket_id: uuid.UUID) -> list[HistoryEntry]:
        rows = await self._uow.queries.all(_HISTORY, ticket_id=ticket_id)
        return [HistoryEntry.model_validate(dict(row)) for row in rows]

    async def add_unless_filed(
        self,
        *,
        message_id: uuid.UUID,
        chat_id: uuid.UUID,
        user_id: uuid.UUID,
        reporter_id: uuid.UUID,
        issue_type: IssueType,
        description: str | None,
    ) -> TicketPublic | None:
        stmt = (
            pg_insert(Ticket)
            .values(
                message_id=message_id,
                chat_id=chat_id,
                user_id=user_id,
                reporter_id=reporter_id,
                issue_type=issue_type,
                description=description,
            )
            .on_conflict_do_nothing(index_elements=[Ticket.message_id])
            .returning(*PUBLIC_COLUMNS)
        )
        row = (await self._uow.session.execute(stmt)).mappings().one_or_none()
        return None if row is None else TicketPublic.model_validate(dict(row))

    async def id_for_message(self, message_id: uuid.UUID) -> uuid.UUID | None:
        stmt = select(Ticket.id).where(Ticket.message_id == message_id)
        return (await self._uow.session.execute(stmt)).scalar_one_or_none()

    async def lock(self, ticket_id: uuid.UUID) -> TicketPublic | None:
        stmt = select(*PUBLIC_COLUMNS).where(Ticket.id == ticket_id).with_for_update()
        row = (await self._uow.session.execute(stmt)).mappings().one_or_none()
        return None if row is None else TicketPublic.model_validate(dict(row))

    async def change(self, ticket_id: uuid.UUID, values: dict[str, Any]) -> TicketPublic:
        stmt = (
            update(Ticket)
            .where(Ticket.id == ticket_id)
            .values({name: now_as_sql(value) for name, value in values.items()})
            .returning(*PUBLIC_COLUMNS)
        )
        row = (await self._uow.session.execute(stmt)).mappings().one()
        return TicketPublic.model_validate(dict(row))

    async def record(
        self, ticket_id: uuid.UUID, actor_id: uuid.UUID, changes: list[Change]
    ) -> None:
        if not changes:
            return
        rows = [
            {
                "ticket_id": ticket_id,
                "actor_id": actor_id,
                "field": c.field,
                "from_value": c.from_value,
                "to_value": c.to_value,
            }
            for c in changes
        ]
        await self._uow.session.execute(insert(TicketChange), rows)

    async def delete_for_user(self, user_id: uuid.UUID) -> int:
        result = await self._uow.session.execute(delete(Ticket).where(Ticket.user_id == user_id))
        return int(result.rowcount)  # type: ignore[attr-defined]
