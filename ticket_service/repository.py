"""Queries of the ``tickets`` schema. Returns rows and models; raises nothing HTTP-ish."""

import uuid
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.tickets import TicketFilter, TicketPublic
from servicekit.db import Queries, Sql
from servicekit.pagination import Key, keyset_past
from ticket_service.models import SCHEMA, Ticket, TicketChange


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


class TicketReads:
    """The read paths of tickets, one statement each, as wire models."""

    def __init__(self, queries: Queries) -> None:
        self.queries = queries

    async def get(self, ticket_id: uuid.UUID) -> TicketPublic | None:
        return await self.queries.one_as(TicketPublic, _GET, ticket_id=ticket_id)

    async def for_message(self, message_id: uuid.UUID) -> TicketPublic | None:
        return await self.queries.one_as(TicketPublic, _FOR_MESSAGE, message_id=message_id)

    async def page(self, flt: TicketFilter, *, after: Key | None, limit: int) -> list[TicketPublic]:
        """Newest first, ``limit + 1`` rows."""
        conditions = _conditions(flt)
        if after is not None:
            conditions.append(keyset_past(Ticket.created_at, Ticket.id, after, newest_first=True))
        stmt = (
            select(*PUBLIC_COLUMNS)
            .where(*conditions)
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(limit + 1)
        )
        return await self.queries.all_as(TicketPublic, stmt)

    async def count(self, flt: TicketFilter) -> int:
        stmt = select(func.count()).select_from(Ticket).where(*_conditions(flt))
        return int(await self.queries.scalar(stmt))


class TicketRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_unless_filed(self, **values: Any) -> Ticket | None:
        """Insert the ticket; None if its message already has one (the database decides)."""
        stmt = (
            insert(Ticket)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[Ticket.message_id])
            .returning(Ticket)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def id_for_message(self, message_id: uuid.UUID) -> uuid.UUID | None:
        stmt = select(Ticket.id).where(Ticket.message_id == message_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get(self, ticket_id: uuid.UUID, *, for_update: bool = False) -> Ticket | None:
        stmt = select(Ticket).where(Ticket.id == ticket_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def record(
        self,
        ticket_id: uuid.UUID,
        actor_id: uuid.UUID,
        changes: list[tuple[str, str | None, str | None]],
    ) -> None:
        for field, before, after in changes:
            self.session.add(
                TicketChange(
                    ticket_id=ticket_id,
                    actor_id=actor_id,
                    field=field,
                    from_value=before,
                    to_value=after,
                )
            )
        await self.session.flush()

    async def history(self, ticket_id: uuid.UUID) -> list[TicketChange]:
        stmt = (
            select(TicketChange)
            .where(TicketChange.ticket_id == ticket_id)
            .order_by(TicketChange.id)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def counts(self) -> list[tuple[str | None, str | None, int]]:
        """Counts by status, by issue type, and in all, in one statement."""
        result = await self.session.execute(
            text(
                f"SELECT status::text, issue_type::text, count(*) FROM {SCHEMA}.tickets"
                " GROUP BY GROUPING SETS ((status), (issue_type), ())"
            )
        )
        return [(row[0], row[1], int(row[2])) for row in result]

    async def delete_for_user(self, user_id: uuid.UUID) -> int:
        result = await self.session.execute(delete(Ticket).where(Ticket.user_id == user_id))
        return int(result.rowcount)  # type: ignore[attr-defined]
