"""Command and event handlers: decode, call the use case, return the reply. No rules, no SQL."""

from pydantic import TypeAdapter

from contracts.events import CloudEvent, UserDeleted
from contracts.names import Commands
from contracts.rpc import Page
from contracts.tickets import (
    CreateTicket,
    ExportTicketsPage,
    GetTicket,
    GetTicketHistory,
    GetTicketOfMessage,
    GetTicketStats,
    HistoryEntry,
    ListTickets,
    TicketPublic,
    TicketStats,
    UpdateTicket,
)
from servicekit.consumer import Delivery, EventHandler
from servicekit.rpc_server import RpcRouter
from ticket_service.service import TicketService

router: RpcRouter[TicketService] = RpcRouter()
HISTORY = TypeAdapter(list[HistoryEntry])


@router.command(Commands.TICKET_CREATE)
async def create_ticket(command: CreateTicket, tickets: TicketService) -> TicketPublic:
    return await tickets.create_ticket(actor=command.actor, data=command.data)


@router.command(Commands.TICKET_GET)
async def get_ticket(command: GetTicket, tickets: TicketService) -> TicketPublic:
    return await tickets.get_ticket(actor=command.actor, ticket_id=command.ticket_id)


@router.command(Commands.TICKET_OF_MESSAGE)
async def ticket_of_message(command: GetTicketOfMessage, tickets: TicketService) -> TicketPublic:
    return await tickets.ticket_of_message(actor=command.actor, message_id=command.message_id)


@router.command(Commands.TICKET_UPDATE)
async def update_ticket(command: UpdateTicket, tickets: TicketService) -> TicketPublic:
    return await tickets.update_ticket(
        actor=command.actor,
        ticket_id=command.ticket_id,
        data=command.data,
        fields=set(command.fields),
    )


@router.command(Commands.TICKET_LIST)
async def list_tickets(command: ListTickets, tickets: TicketService) -> Page[TicketPublic]:
    return await tickets.list_tickets(
        actor=command.actor,
        flt=command.filter,
        limit=command.limit,
        cursor=command.cursor,
        include_total=command.include_total,
    )


@router.command(Commands.TICKET_EXPORT_PAGE)
async def export_page(command: ExportTicketsPage, tickets: TicketService) -> Page[TicketPublic]:
    return await tickets.export_page(
        actor=command.actor, flt=command.filter, limit=command.limit, cursor=command.cursor
    )


@router.command(Commands.TICKET_HISTORY)
async def history(command: GetTicketHistory, tickets: TicketService) -> bytes:
    return HISTORY.dump_json(
        await tickets.history(actor=command.actor, ticket_id=command.ticket_id), by_alias=True
    )


@router.command(Commands.TICKET_STATS)
async def stats(command: GetTicketStats, tickets: TicketService) -> TicketStats:
    return await tickets.stats(actor=command.actor)


def on_user_deleted(tickets: TicketService) -> EventHandler:
    """``support.user.deleted``: a hard delete takes the tickets on the user's messages along."""

    async def handle(event: CloudEvent, _: Delivery) -> None:
        deleted = UserDeleted.model_validate(event.data)
        if deleted.hard:
            await tickets.forget_user(deleted.user_id)

    return handle
