"""The ticket use cases through the in-process bus, on a fake unit of work: every rule a
customer or an agent would notice, in milliseconds."""

import uuid

import orjson
import pytest

from contracts.base import Command
from contracts.enums import ErrorCode, IssueType, Priority, Role, TicketStatus
from contracts.events import TicketCreated, TicketStatusChanged, TicketUpdated, UserDeleted
from contracts.rpc import Actor
from contracts.tickets import (
    CreateTicket,
    ExportTicketsPage,
    GetTicket,
    GetTicketHistory,
    GetTicketOfMessage,
    GetTicketStats,
    ListTickets,
    TicketCreate,
    TicketFilter,
    TicketPublic,
    TicketStats,
    TicketUpdate,
    UpdateTicket,
)
from servicekit.rpc_client import RemoteError
from servicekit.testing import InProcessRpc
from support.cursors import NOT_OUR_CURSORS
from ticket_service.bootstrap import USE_CASES
from ticket_service.tickets.use_cases import forget_user
from unit.fakes.tickets import FakeTicketsUnitOfWork, TicketsDb

CUSTOMER = Actor(id=uuid.uuid4(), role=Role.CUSTOMER)
STRANGER = Actor(id=uuid.uuid4(), role=Role.CUSTOMER)
AGENT = Actor(id=uuid.uuid4(), role=Role.AGENT)


@pytest.fixture
def db() -> TicketsDb:
    db = TicketsDb()
    db.roles[AGENT.id] = Role.AGENT
    db.roles[CUSTOMER.id] = Role.CUSTOMER
    return db


@pytest.fixture
def rpc(db: TicketsDb) -> InProcessRpc:
    rpc = InProcessRpc()
    rpc.serve(USE_CASES, lambda: FakeTicketsUnitOfWork(db))
    return rpc


async def file(rpc: InProcessRpc, db: TicketsDb, actor: Actor = CUSTOMER) -> TicketPublic:
    message = db.message_of(CUSTOMER.id)
    data = TicketCreate(message_id=message.message_id, issue_type=IssueType.WRONG_REFERENCE)
    raw = await rpc.call(CreateTicket(actor=actor, data=data))
    return TicketPublic.model_validate_json(raw)


async def refused(rpc: InProcessRpc, command: Command) -> RemoteError:
    with pytest.raises(RemoteError) as raised:
        await rpc.call(command)
    return raised.value


async def update(
    rpc: InProcessRpc, ticket: TicketPublic, actor: Actor = AGENT, **fields: object
) -> TicketPublic:
    data = TicketUpdate.model_validate(fields)
    command = UpdateTicket(actor=actor, ticket_id=ticket.id, data=data, fields=sorted(fields))
    return TicketPublic.model_validate_json(await rpc.call(command))


async def test_the_owner_files_a_ticket_opened_with_its_event_and_history(
    rpc: InProcessRpc, db: TicketsDb
) -> None:
    ticket = await file(rpc, db)
    assert (ticket.status, ticket.user_id, ticket.reporter_id) == (
        TicketStatus.OPEN,
        CUSTOMER.id,
        CUSTOMER.id,
    )
    assert db.published == [TicketCreated(**ticket.model_dump())]
    history = orjson.loads(await rpc.call(GetTicketHistory(actor=CUSTOMER, ticket_id=ticket.id)))
    assert [(h["field"], h["from"], h["to"]) for h in history] == [("status", None, "open")]


async def test_an_agent_files_on_a_customers_message_for_that_customer(
    rpc: InProcessRpc, db: TicketsDb
) -> None:
    ticket = await file(rpc, db, actor=AGENT)
    assert (ticket.user_id, ticket.reporter_id) == (CUSTOMER.id, AGENT.id)


async def test_someone_elses_message_is_not_found(rpc: InProcessRpc, db: TicketsDb) -> None:
    message = db.message_of(CUSTOMER.id)
    data = TicketCreate(message_id=message.message_id, issue_type=IssueType.OTHER)
    error = await refused(rpc, CreateTicket(actor=STRANGER, data=data))
    assert error.reply.code == ErrorCode.NOT_FOUND
    assert db.tickets == {}


async def test_a_second_ticket_on_a_message_names_the_first(
    rpc: InProcessRpc, db: TicketsDb
) -> None:
    first = await file(rpc, db)
    data = TicketCreate(message_id=first.message_id, issue_type=IssueType.OTHER)
    error = await refused(rpc, CreateTicket(actor=AGENT, data=data))
    assert error.reply.code == ErrorCode.TICKET_EXISTS
    assert error.reply.extra == {"ticket_id": str(first.id)}
    assert len(db.tickets) == 1
    assert len(db.published) == 1


async def test_only_the_owner_and_staff_see_a_ticket(rpc: InProcessRpc, db: TicketsDb) -> None:
    ticket = await file(rpc, db)
    for actor in (CUSTOMER, AGENT):
        seen = TicketPublic.model_validate_json(
            await rpc.call(GetTicket(actor=actor, ticket_id=ticket.id))
        )
        assert seen == ticket
    hidden = await refused(rpc, GetTicket(actor=STRANGER, ticket_id=ticket.id))
    missing = await refused(rpc, GetTicket(actor=STRANGER, ticket_id=uuid.uuid4()))
    assert hidden.reply == missing.reply
    assert hidden.reply.code == ErrorCode.NOT_FOUND


async def test_the_ticket_of_a_message(rpc: InProcessRpc, db: TicketsDb) -> None:
    ticket = await file(rpc, db)
    raw = await rpc.call(GetTicketOfMessage(actor=CUSTOMER, message_id=ticket.message_id))
    assert TicketPublic.model_validate_json(raw) == ticket
    error = await refused(rpc, GetTicketOfMessage(actor=CUSTOMER, message_id=uuid.uuid4()))
    assert (error.reply.code, error.reply.detail) == (
        ErrorCode.NOT_FOUND,
        "this message has no ticket",
    )
    # Someone else's ticketed message answers word for word as a message without a ticket.
    theirs = await refused(rpc, GetTicketOfMessage(actor=STRANGER, message_id=ticket.message_id))
    assert theirs.reply == error.reply


async def test_the_workflow_moves_and_resolves_with_events(
    rpc: InProcessRpc, db: TicketsDb
) -> None:
    ticket = await file(rpc, db)
    working = await update(rpc, ticket, status=TicketStatus.IN_PROGRESS)
    resolved = await update(rpc, working, status=TicketStatus.RESOLVED)
    assert resolved.resolved_at is not None
    reopened = await update(rpc, resolved, status=TicketStatus.OPEN)
    assert reopened.resolved_at is None
    moves = [e for e in db.published if isinstance(e, TicketStatusChanged)]
    assert [(m.from_status, m.to_status, m.actor_id) for m in moves] == [
        (TicketStatus.OPEN, TicketStatus.IN_PROGRESS, AGENT.id),
        (TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED, AGENT.id),
        (TicketStatus.RESOLVED, TicketStatus.OPEN, AGENT.id),
    ]
    assert moves[-1].ticket == reopened


async def test_a_move_the_workflow_forbids_changes_nothing(
    rpc: InProcessRpc, db: TicketsDb
) -> None:
    ticket = await file(rpc, db)
    resolved = await update(rpc, ticket, status=TicketStatus.RESOLVED)
    command = UpdateTicket(
        actor=AGENT,
        ticket_id=ticket.id,
        data=TicketUpdate(status=TicketStatus.IN_PROGRESS),
        fields=["status"],
    )
    error = await refused(rpc, command)
    assert error.reply.code == ErrorCode.INVALID_TRANSITION
    assert db.tickets[ticket.id] == resolved


async def test_the_same_values_again_are_a_no_op(rpc: InProcessRpc, db: TicketsDb) -> None:
    ticket = await file(rpc, db)
    again = await update(rpc, ticket, status=TicketStatus.OPEN, priority=Priority.NORMAL)
    assert again == ticket
    assert len(db.published) == 1  # only its creation


async def test_priority_and_assignee_changes_are_one_update_event(
    rpc: InProcessRpc, db: TicketsDb
) -> None:
    ticket = await file(rpc, db)
    changed = await update(rpc, ticket, priority=Priority.URGENT, assignee_id=AGENT.id)
    (event,) = [e for e in db.published if isinstance(e, TicketUpdated)]
    assert [(c.field, c.from_value, c.to_value) for c in event.changes] == [
        ("priority", "normal", "urgent"),
        ("assignee_id", None, str(AGENT.id)),
    ]
    assert event.ticket == changed
    unassigned = await update(rpc, changed, assignee_id=None)
    assert unassigned.assignee_id is None


async def test_the_assignee_must_be_staff(rpc: InProcessRpc, db: TicketsDb) -> None:
    ticket = await file(rpc, db)
    for someone in (CUSTOMER.id, uuid.uuid4()):
        command = UpdateTicket(
            actor=AGENT,
            ticket_id=ticket.id,
            data=TicketUpdate(assignee_id=someone),
            fields=["assignee_id"],
        )
        error = await refused(rpc, command)
        assert error.reply.code == ErrorCode.VALIDATION
        assert error.reply.errors[0].loc == ["body", "assignee_id"]


async def test_customers_do_not_change_tickets(rpc: InProcessRpc, db: TicketsDb) -> None:
    ticket = await file(rpc, db)
    data = TicketUpdate(status=TicketStatus.RESOLVED)
    own = await refused(
        rpc, UpdateTicket(actor=CUSTOMER, ticket_id=ticket.id, data=data, fields=["status"])
    )
    other = await refused(
        rpc, UpdateTicket(actor=STRANGER, ticket_id=ticket.id, data=data, fields=["status"])
    )
    assert (own.reply.code, other.reply.code) == (ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND)
    assert db.tickets[ticket.id] == ticket


async def test_customers_list_their_own_and_staff_filter_all(
    rpc: InProcessRpc, db: TicketsDb
) -> None:
    mine = [await file(rpc, db) for _ in range(3)]
    db.messages.clear()
    other = db.message_of(STRANGER.id)
    data = TicketCreate(message_id=other.message_id, issue_type=IssueType.UI_ERROR)
    theirs = TicketPublic.model_validate_json(
        await rpc.call(CreateTicket(actor=STRANGER, data=data))
    )

    page = orjson.loads(await rpc.call(ListTickets(actor=CUSTOMER, limit=2)))
    assert [t["id"] for t in page["items"]] == [str(t.id) for t in reversed(mine)][:2]
    rest = orjson.loads(
        await rpc.call(ListTickets(actor=CUSTOMER, limit=2, cursor=page["next_cursor"]))
    )
    assert [t["id"] for t in rest["items"]] == [str(mine[0].id)]
    assert rest["next_cursor"] is None

    snooping = ListTickets(actor=CUSTOMER, filter=TicketFilter(user_id=STRANGER.id))
    assert (await refused(rpc, snooping)).reply.code == ErrorCode.FORBIDDEN
    ui = ListTickets(
        actor=AGENT, filter=TicketFilter(issue_type=IssueType.UI_ERROR), include_total=True
    )
    listed = orjson.loads(await rpc.call(ui))
    assert [t["id"] for t in listed["items"]] == [str(theirs.id)]
    assert listed["total"] == 1


@pytest.mark.parametrize("cursor", NOT_OUR_CURSORS)
async def test_a_cursor_we_did_not_make_answers_invalid_cursor(
    rpc: InProcessRpc, db: TicketsDb, cursor: str
) -> None:
    await file(rpc, db)
    reply = (await refused(rpc, ListTickets(actor=AGENT, cursor=cursor))).reply
    assert (reply.code, reply.detail) == (
        ErrorCode.INVALID_CURSOR,
        "cursor is not one this API returned",
    )
    assert [error.loc for error in reply.errors] == [["query", "cursor"]]


async def test_exports_and_stats_are_for_staff(rpc: InProcessRpc, db: TicketsDb) -> None:
    ticket = await file(rpc, db)
    await update(rpc, ticket, status=TicketStatus.RESOLVED)
    await file(rpc, db)
    stats = TicketStats.model_validate_json(await rpc.call(GetTicketStats(actor=AGENT)))
    assert stats.total == 2
    assert (stats.by_status[TicketStatus.OPEN], stats.by_status[TicketStatus.RESOLVED]) == (1, 1)
    assert stats.by_issue_type[IssueType.WRONG_REFERENCE] == 2
    assert stats.by_status[TicketStatus.IN_PROGRESS] == 0
    export = orjson.loads(await rpc.call(ExportTicketsPage(actor=AGENT)))
    assert len(export["items"]) == 2
    for command in (GetTicketStats(actor=CUSTOMER), ExportTicketsPage(actor=CUSTOMER)):
        assert (await refused(rpc, command)).reply.code == ErrorCode.FORBIDDEN


async def test_a_hard_deleted_users_tickets_go_with_them(rpc: InProcessRpc, db: TicketsDb) -> None:
    await file(rpc, db)
    await forget_user(UserDeleted(user_id=CUSTOMER.id, hard=False), FakeTicketsUnitOfWork(db))
    assert len(db.tickets) == 1
    await forget_user(UserDeleted(user_id=CUSTOMER.id, hard=True), FakeTicketsUnitOfWork(db))
    assert db.tickets == {}
    await forget_user(UserDeleted(user_id=CUSTOMER.id, hard=True), FakeTicketsUnitOfWork(db))


def test_the_service_reacts_to_hard_deletes() -> None:
    assert set(USE_CASES.subscriptions) == {UserDeleted.event_type}
