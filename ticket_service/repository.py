"""Queries of the ``tickets`` schema. Returns rows and models; raises nothing HTTP-ish."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.tickets import TicketFilter
from ticket_service.models import SCHEMA, Ticket, TicketChange

Key = tuple[datetime, uuid.UUID]


def _conditions(flt: TicketFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    for name in ("status", "issue_type", "priority", "assignee_id", "user_id"):
        value = getattr(flt, name)
        if value is not None:
            conditions.append(getattr(Ticket, name) == value)
    return conditions


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

    async def for_message(self, message_id: uuid.UUID) -> Ticket | None:
        stmt = select(Ticket).where(Ticket.message_id == message_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def page(self, flt: TicketFilter, *, after: Key | None, limit: int) -> list[Ticket]:
        """Newest first, ``limit + 1`` rows."""
        conditions = _conditions(flt)
        if after is not None:
            conditions.append(tuple_(Ticket.created_at, Ticket.id) < tuple_(*after))
        stmt = (
            select(Ticket)
            .where(*conditions)
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(limit + 1)
        )
        return list((await self.session.execute(stmt)).scalars())

    async def count(self, flt: TicketFilter) -> int:
        stmt = select(func.count()).select_from(Ticket).where(*_conditions(flt))
        return int((await self.session.execute(stmt)).scalar_one())

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
