"""Use cases on tickets: one per message, a workflow, a history row and an event per change."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import func

from contracts.enums import STAFF, IssueType, TicketStatus
from contracts.events import EventTypes
from contracts.rpc import Actor, Page
from contracts.tickets import (
    Change,
    HistoryEntry,
    TicketCreate,
    TicketFilter,
    TicketPublic,
    TicketStats,
    TicketStatusChanged,
    TicketUpdate,
    TicketUpdated,
)
from servicekit.db import Queries
from servicekit.errors import Forbidden, InvalidInput, NotFound
from servicekit.outbox import record_event
from servicekit.pagination import decode_cursor, page_of
from ticket_service import policy, workflow
from ticket_service.directory import Directory
from ticket_service.errors import TicketAlreadyExists
from ticket_service.models import Ticket, outbox
from ticket_service.repository import TicketReads, TicketRepository


def to_public(ticket: Ticket) -> TicketPublic:
    return TicketPublic.model_validate(ticket, from_attributes=True)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class TicketService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], queries: Queries, directory: Directory
    ) -> None:
        self._sessions = sessions
        self._reads = TicketReads(queries)
        self._directory = directory

    async def create_ticket(self, *, actor: Actor, data: TicketCreate) -> TicketPublic:
        """File a ticket on a message the caller may see; one per message, the database says."""
        message = await self._directory.message(actor, data.message_id)
        async with self._sessions.begin() as session:
            repo = TicketRepository(session)
            ticket = await repo.add_unless_filed(
                message_id=message.message_id,
                chat_id=message.chat_id,
                user_id=message.user_id,
                reporter_id=actor.id,
                issue_type=data.issue_type,
                description=data.description or None,
            )
            if ticket is None:
                existing = await repo.id_for_message(message.message_id)
                raise TicketAlreadyExists(
                    "this message already has a ticket", ticket_id=str(existing)
                )
            await repo.record(ticket.id, actor.id, [("status", None, TicketStatus.OPEN.value)])
            public = to_public(ticket)
            await record_event(session, outbox, EventTypes.TICKET_CREATED, ticket.id, public)
        return public

    async def get_ticket(self, *, actor: Actor, ticket_id: uuid.UUID) -> TicketPublic:
        ticket = await self._reads.get(ticket_id)
        if ticket is None:
            raise NotFound("ticket not found")
        policy.check_read(actor, ticket.user_id)
        return ticket

    async def ticket_of_message(self, *, actor: Actor, message_id: uuid.UUID) -> TicketPublic:
        ticket = await self._reads.for_message(message_id)
        if ticket is None:
            raise NotFound("this message has no ticket")
        policy.check_read(actor, ticket.user_id)
        return ticket

    async def update_ticket(
        self, *, actor: Actor, ticket_id: uuid.UUID, data: TicketUpdate, fields: set[str]
    ) -> TicketPublic:
        """Change status (by the workflow), priority or assignee; agents and admins only."""
        if actor.role not in STAFF:
            await self.get_ticket(actor=actor, ticket_id=ticket_id)  # 404 unless it is theirs
            raise Forbidden("only agents and admins change tickets")
        assignee = data.assignee_id if "assignee_id" in fields else None
        if assignee is not None and await self._directory.role_of(assignee) not in STAFF:
            raise InvalidInput(
                "the assignee must be an agent or an admin", loc=["body", "assignee_id"]
            )
        async with self._sessions.begin() as session:
            repo = TicketRepository(session)
            ticket = await repo.get(ticket_id, for_update=True)
            if ticket is None:
                raise NotFound("ticket not found")
            policy.check_change(actor, ticket.user_id)
            before = to_public(ticket)
            changes = self._apply(ticket, data, fields)
            if not changes:
                return before  # the same values again: nothing happens
            await session.flush()
            await session.refresh(ticket)
            await repo.record(
                ticket.id, actor.id, [(c.field, c.from_value, c.to_value) for c in changes]
            )
            after = to_public(ticket)
            await self._emit_changes(session, after, before, changes, actor)
        return after

    @staticmethod
    def _apply(ticket: Ticket, data: TicketUpdate, fields: set[str]) -> list[Change]:
        changes: list[Change] = []
        status = data.status if "status" in fields else None
        if status is not None and workflow.check_transition(ticket.status, status):
            changes.append(Change(field="status", from_value=ticket.status, to_value=status))
            ticket.status = status
            resolved = status == TicketStatus.RESOLVED
            ticket.resolved_at = func.now() if resolved else None
        if "priority" in fields and data.priority not in (None, ticket.priority):
            changes.append(
                Change(field="priority", from_value=ticket.priority, to_value=data.priority)
            )
            ticket.priority = data.priority
        if "assignee_id" in fields and data.assignee_id != ticket.assignee_id:
            changes.append(
                Change(
                    field="assignee_id",
                    from_value=_text(ticket.assignee_id),
                    to_value=_text(data.assignee_id),
                )
            )
            ticket.assignee_id = data.assignee_id
        return changes

    @staticmethod
    async def _emit_changes(
        session: AsyncSession,
        after: TicketPublic,
        before: TicketPublic,
        changes: list[Change],
        actor: Actor,
    ) -> None:
        others = [c for c in changes if c.field != "status"]
        if before.status != after.status:
            changed = TicketStatusChanged(
                ticket=after, from_status=before.status, to_status=after.status, actor_id=actor.id
            )
            await record_event(session, outbox, EventTypes.TICKET_STATUS_CHANGED, after.id, changed)
        if others:
            updated = TicketUpdated(ticket=after, changes=others, actor_id=actor.id)
            await record_event(session, outbox, EventTypes.TICKET_UPDATED, after.id, updated)

    async def list_tickets(
        self,
        *,
        actor: Actor,
        flt: TicketFilter,
        limit: int,
        cursor: str | None,
        include_total: bool,
    ) -> Page[TicketPublic]:
        """Tickets newest first: a customer's own, anyone's for staff."""
        flt = flt.model_copy(update={"user_id": policy.listed_owner(actor, flt.user_id)})
        after = decode_cursor(cursor) if cursor else None
        rows = await self._reads.page(flt, after=after, limit=limit)
        total = await self._reads.count(flt) if include_total else None
        return page_of(rows, limit, total=total)

    async def history(self, *, actor: Actor, ticket_id: uuid.UUID) -> list[HistoryEntry]:
        """Every change of the ticket, oldest first."""
        async with self._sessions() as session:
            repo = TicketRepository(session)
            ticket = await repo.get(ticket_id)
            if ticket is None:
                raise NotFound("ticket not found")
            policy.check_read(actor, ticket.user_id)
            rows = await repo.history(ticket_id)
        return [
            HistoryEntry(
                at=r.at,
                actor_id=r.actor_id,
                field=r.field,
                from_value=r.from_value,
                to_value=r.to_value,
            )
            for r in rows
        ]

    async def stats(self, *, actor: Actor) -> TicketStats:
        """Counts by status and by issue type (agents and admins), in one query."""
        policy.check_staff(actor)
        async with self._sessions() as session:
            counts = await TicketRepository(session).counts()
        by_status = dict.fromkeys(TicketStatus, 0)
        by_issue_type = dict.fromkeys(IssueType, 0)
        total = 0
        for status, issue_type, count in counts:
            if status is not None:
                by_status[TicketStatus(status)] = count
            elif issue_type is not None:
                by_issue_type[IssueType(issue_type)] = count
            else:
                total = count
        return TicketStats(by_status=by_status, by_issue_type=by_issue_type, total=total)

    async def export_page(
        self, *, actor: Actor, flt: TicketFilter, limit: int, cursor: str | None
    ) -> Page[TicketPublic]:
        """One page of an export (agents and admins); the gateway streams page after page."""
        policy.check_staff(actor)
        return await self.list_tickets(
            actor=actor, flt=flt, limit=limit, cursor=cursor, include_total=False
        )

    async def forget_user(self, user_id: uuid.UUID) -> int:
        """Delete the tickets on a hard-deleted user's messages. Idempotent."""
        async with self._sessions.begin() as session:
            return await TicketRepository(session).delete_for_user(user_id)
