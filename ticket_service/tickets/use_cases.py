"""Use cases on tickets: one per message, a workflow, a history row and an event per change."""

from typing import Any

from pydantic import TypeAdapter

from contracts.enums import STAFF, IssueType, TicketStatus
from contracts.rpc import Page
from contracts.tickets import (
    Change,
    CreateTicket,
    ExportTicketsPage,
    GetTicket,
    GetTicketHistory,
    GetTicketOfMessage,
    GetTicketStats,
    HistoryEntry,
    ListTickets,
    TicketCreated,
    TicketPublic,
    TicketStats,
    TicketStatusChanged,
    TicketUpdate,
    TicketUpdated,
    UpdateTicket,
)
from contracts.users import UserDeleted
from servicekit.db import NOW
from servicekit.errors import Forbidden, InvalidInput, NotFound
from servicekit.pagination import decode_cursor, page_of
from servicekit.usecases import UseCases
from ticket_service.tickets import policy, workflow
from ticket_service.tickets.errors import TicketAlreadyExists
from ticket_service.uow import TicketsUnitOfWork

use_cases: UseCases[TicketsUnitOfWork] = UseCases()
HISTORY = TypeAdapter(list[HistoryEntry])
NO_TICKET = "this message has no ticket"


@use_cases.handles
async def create_ticket(cmd: CreateTicket, uow: TicketsUnitOfWork) -> TicketPublic:
    """File a ticket on a message the caller may see; one per message, the database says."""
    message = await uow.directory.message(cmd.actor, cmd.data.message_id)
    async with uow:
        ticket = await uow.tickets.add_unless_filed(
            message_id=message.message_id,
            chat_id=message.chat_id,
            user_id=message.user_id,
            reporter_id=cmd.actor.id,
            issue_type=cmd.data.issue_type,
            description=cmd.data.description or None,
        )
        if ticket is None:
            existing = await uow.tickets.id_for_message(message.message_id)
            raise TicketAlreadyExists("this message already has a ticket", ticket_id=str(existing))
        opened = Change(field="status", from_value=None, to_value=TicketStatus.OPEN)
        await uow.tickets.record(ticket.id, cmd.actor.id, [opened])
        uow.events.add(TicketCreated(**ticket.model_dump()))
        await uow.commit()
    return ticket


@use_cases.handles
async def get_ticket(cmd: GetTicket, uow: TicketsUnitOfWork) -> TicketPublic:
    ticket = await uow.tickets.get(cmd.ticket_id)
    if ticket is None:
        raise NotFound("ticket not found")
    policy.check_read(cmd.actor, ticket.user_id)
    return ticket


@use_cases.handles
async def ticket_of_message(cmd: GetTicketOfMessage, uow: TicketsUnitOfWork) -> TicketPublic:
    ticket = await uow.tickets.for_message(cmd.message_id)
    if ticket is None:
        raise NotFound(NO_TICKET)
    try:
        policy.check_read(cmd.actor, ticket.user_id)
    except NotFound:  # not theirs to see: as if there were none, word for word
        raise NotFound(NO_TICKET) from None
    return ticket


@use_cases.handles
async def update_ticket(cmd: UpdateTicket, uow: TicketsUnitOfWork) -> TicketPublic:
    """Change status (by the workflow), priority or assignee; agents and admins only."""
    actor, fields = cmd.actor, set(cmd.fields)
    if actor.role not in STAFF:
        await get_ticket(GetTicket(actor=actor, ticket_id=cmd.ticket_id), uow)  # 404 unless theirs
        raise Forbidden("only agents and admins change tickets")
    assignee = cmd.data.assignee_id if "assignee_id" in fields else None
    if assignee is not None and await uow.directory.role_of(assignee) not in STAFF:
        raise InvalidInput("the assignee must be an agent or an admin", loc=["body", "assignee_id"])
    async with uow:
        before = await uow.tickets.lock(cmd.ticket_id)
        if before is None:
            raise NotFound("ticket not found")
        policy.check_change(actor, before.user_id)
        changes, values = changes_of(before, cmd.data, fields)
        if not changes:
            return before  # the same values again: nothing happens
        after = await uow.tickets.change(before.id, values)
        await uow.tickets.record(after.id, actor.id, changes)
        if before.status != after.status:
            uow.events.add(
                TicketStatusChanged(
                    ticket=after,
                    from_status=before.status,
                    to_status=after.status,
                    actor_id=actor.id,
                )
            )
        if others := [c for c in changes if c.field != "status"]:
            uow.events.add(TicketUpdated(ticket=after, changes=others, actor_id=actor.id))
        await uow.commit()
    return after


def changes_of(
    ticket: TicketPublic, data: TicketUpdate, fields: set[str]
) -> tuple[list[Change], dict[str, Any]]:
    """What an update changes (for the history and the events) and the new column values."""
    changes: list[Change] = []
    values: dict[str, Any] = {}
    status = data.status if "status" in fields else None
    if status is not None and workflow.check_transition(ticket.status, status):
        changes.append(Change(field="status", from_value=ticket.status, to_value=status))
        values["status"] = status
        values["resolved_at"] = NOW if status == TicketStatus.RESOLVED else None
    if "priority" in fields and data.priority not in (None, ticket.priority):
        changes.append(Change(field="priority", from_value=ticket.priority, to_value=data.priority))
        values["priority"] = data.priority
    if "assignee_id" in fields and data.assignee_id != ticket.assignee_id:
        changes.append(
            Change(
                field="assignee_id",
                from_value=_text(ticket.assignee_id),
                to_value=_text(data.assignee_id),
            )
        )
        values["assignee_id"] = data.assignee_id
    return changes, values


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@use_cases.handles
async def list_tickets(cmd: ListTickets, uow: TicketsUnitOfWork) -> Page[TicketPublic]:
    """Tickets newest first: a customer's own, anyone's for staff."""
    flt = cmd.filter.model_copy(
        update={"user_id": policy.listed_owner(cmd.actor, cmd.filter.user_id)}
    )
    after = decode_cursor(cmd.cursor) if cmd.cursor else None
    rows = await uow.tickets.page(flt, after=after, limit=cmd.limit)
    total = await uow.tickets.count(flt) if cmd.include_total else None
    return page_of(rows, cmd.limit, total=total)


@use_cases.handles
async def export_page(cmd: ExportTicketsPage, uow: TicketsUnitOfWork) -> Page[TicketPublic]:
    """One page of an export (agents and admins); the gateway streams page after page."""
    policy.check_staff(cmd.actor)
    return await list_tickets(cmd, uow)


@use_cases.handles
async def ticket_history(cmd: GetTicketHistory, uow: TicketsUnitOfWork) -> bytes:
    """Every change of the ticket, oldest first."""
    await get_ticket(GetTicket(actor=cmd.actor, ticket_id=cmd.ticket_id), uow)
    return HISTORY.dump_json(await uow.tickets.history(cmd.ticket_id), by_alias=True)


@use_cases.handles
async def ticket_stats(cmd: GetTicketStats, uow: TicketsUnitOfWork) -> TicketStats:
    """Counts by status and by issue type (agents and admins), in one query."""
    policy.check_staff(cmd.actor)
    by_status = dict.fromkeys(TicketStatus, 0)
    by_issue_type = dict.fromkeys(IssueType, 0)
    total = 0
    for status, issue_type, count in await uow.tickets.counts():
        if status is not None:
            by_status[TicketStatus(status)] = count
        elif issue_type is not None:
            by_issue_type[IssueType(issue_type)] = count
        else:
            total = count
    return TicketStats(by_status=by_status, by_issue_type=by_issue_type, total=total)


@use_cases.reacts_to(UserDeleted)
async def forget_user(event: UserDeleted, uow: TicketsUnitOfWork) -> None:
    """A hard delete takes the tickets on the user's messages along. Idempotent."""
    if event.hard:
        async with uow:
            await uow.tickets.delete_for_user(event.user_id)
            await uow.commit()
