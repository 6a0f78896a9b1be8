"""``/api/tickets``: tickets on messages, their workflow, history, stats and CSV export."""

import csv
import io
from collections.abc import AsyncIterator, Iterable
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import Response, StreamingResponse

from contracts.enums import IssueType, Priority, TicketStatus
from contracts.rpc import Actor, Page
from contracts.tickets import (
    CreateTicket,
    ExportTicketsPage,
    GetTicket,
    GetTicketHistory,
    GetTicketOfMessage,
    GetTicketStats,
    HistoryEntry,
    ListTickets,
    TicketFilter,
    TicketPublic,
    TicketStats,
    UpdateTicket,
)
from gateway.routers.users import Cursor, Limit
from gateway.rpc import Rpc, relay
from gateway.schemas import TicketCreateBody, TicketUpdateBody
from gateway.security import CurrentActor
from servicekit.rpc_client import RpcClient

router = APIRouter(tags=["tickets"])
CSV_COLUMNS = list(TicketPublic.model_fields)


async def ticket_filter(
    status: TicketStatus | None = None,
    issue_type: IssueType | None = None,
    priority: Priority | None = None,
    assignee_id: UUID | None = None,
    user_id: UUID | None = None,
) -> TicketFilter:
    return TicketFilter(
        status=status,
        issue_type=issue_type,
        priority=priority,
        assignee_id=assignee_id,
        user_id=user_id,
    )


Filter = Annotated[TicketFilter, Depends(ticket_filter)]


@router.post("/tickets", status_code=201, response_model=TicketPublic)
async def create_ticket(body: TicketCreateBody, rpc: Rpc, actor: CurrentActor) -> Response:
    """File a ticket on a message (its owner, an agent or an admin); one per message."""
    raw = await rpc.call(CreateTicket(actor=actor, data=body))
    location = f"/api/tickets/{orjson.loads(raw)['id']}"
    return Response(raw, 201, media_type="application/json", headers={"Location": location})


@router.get("/tickets", response_model=Page[TicketPublic])
async def list_tickets(
    rpc: Rpc,
    actor: CurrentActor,
    flt: Filter,
    limit: Limit = 20,
    cursor: Cursor = None,
    include_total: bool = False,
) -> Response:
    """Tickets newest first: customers see their own, agents and admins all."""
    command = ListTickets(
        actor=actor, filter=flt, limit=limit, cursor=cursor, include_total=include_total
    )
    return await relay(rpc, command)


@router.get("/tickets/stats", response_model=TicketStats)
async def ticket_stats(rpc: Rpc, actor: CurrentActor) -> Response:
    """Counts by status and by issue type (agents and admins)."""
    return await relay(rpc, GetTicketStats(actor=actor))


def _cell(value: Any) -> Any:
    # A cell that starts like a formula would run in a spreadsheet (CSV injection): quote it.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv(rows: Iterable[dict[str, Any]], *, header: bool = False) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(CSV_COLUMNS)
    writer.writerows([_cell(row.get(column)) for column in CSV_COLUMNS] for row in rows)
    return buffer.getvalue().encode()


async def _page(
    rpc: RpcClient, actor: Actor, flt: TicketFilter, cursor: str | None
) -> dict[str, Any]:
    command = ExportTicketsPage(actor=actor, filter=flt, cursor=cursor)
    page: dict[str, Any] = orjson.loads(await rpc.call(command))
    return page


@router.get(
    "/tickets/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_tickets(rpc: Rpc, actor: CurrentActor, flt: Filter) -> StreamingResponse:
    """Every ticket the filters match, as CSV with a header row, streamed a page at a time."""
    first = await _page(rpc, actor, flt, None)  # errors (403, 503) before any byte is sent

    async def body() -> AsyncIterator[bytes]:
        page = first
        yield _csv(page["items"], header=True)
        while page["next_cursor"]:
            page = await _page(rpc, actor, flt, page["next_cursor"])
            yield _csv(page["items"])

    headers = {"Content-Disposition": 'attachment; filename="tickets.csv"'}
    return StreamingResponse(body(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/tickets/{ticket_id}", response_model=TicketPublic)
async def get_ticket(ticket_id: UUID, rpc: Rpc, actor: CurrentActor) -> Response:
    return await relay(rpc, GetTicket(actor=actor, ticket_id=ticket_id))


@router.patch("/tickets/{ticket_id}", response_model=TicketPublic)
async def update_ticket(
    ticket_id: UUID, body: TicketUpdateBody, rpc: Rpc, actor: CurrentActor
) -> Response:
    """Move a ticket along its workflow, or change its priority or assignee (agents, admins)."""
    command = UpdateTicket(
        actor=actor, ticket_id=ticket_id, data=body, fields=sorted(body.model_fields_set)
    )
    return await relay(rpc, command)


@router.get("/tickets/{ticket_id}/history", response_model=list[HistoryEntry])
async def ticket_history(ticket_id: UUID, rpc: Rpc, actor: CurrentActor) -> Response:
    """Every change, oldest first: ``[{at, actor_id, field, from, to}]``."""
    command = GetTicketHistory(actor=actor, ticket_id=ticket_id)
    return await relay(rpc, command)


@router.get("/messages/{message_id}/ticket", response_model=TicketPublic)
async def ticket_of_message(message_id: UUID, rpc: Rpc, actor: CurrentActor) -> Response:
    """The message's ticket; 404 if it has none."""
    command = GetTicketOfMessage(actor=actor, message_id=message_id)
    return await relay(rpc, command)
