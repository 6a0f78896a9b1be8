"""Tickets on messages: bodies of the REST API, the commands behind them, their events."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import ConfigDict, Field, StringConstraints

from contracts.base import Command, Event, InputModel, WireModel
from contracts.enums import IssueType, Priority, TicketStatus
from contracts.rpc import Actor, PageQuery

Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]


class TicketCreate(InputModel):
    message_id: UUID
    issue_type: IssueType
    description: Description | None = None


class TicketUpdate(InputModel):
    """Partial update by an agent or admin; ``assignee_id: null`` unassigns."""

    status: TicketStatus | None = None
    priority: Priority | None = None
    assignee_id: UUID | None = None


class TicketPublic(WireModel):
    id: UUID
    message_id: UUID
    chat_id: UUID
    user_id: UUID
    reporter_id: UUID
    issue_type: IssueType
    status: TicketStatus
    priority: Priority
    assignee_id: UUID | None
    description: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


class Change(WireModel):
    """One field's change; serialized as ``{"field", "from", "to"}``."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    field: str
    from_value: str | None = Field(alias="from")
    to_value: str | None = Field(alias="to")


class HistoryEntry(Change):
    at: datetime
    actor_id: UUID


class TicketFilter(WireModel):
    status: TicketStatus | None = None
    issue_type: IssueType | None = None
    priority: Priority | None = None
    assignee_id: UUID | None = None
    user_id: UUID | None = None


class CreateTicket(Command):
    queue = "tickets.create"

    actor: Actor
    data: TicketCreate


class GetTicket(Command):
    queue = "tickets.get"

    actor: Actor
    ticket_id: UUID


class GetTicketOfMessage(Command):
    queue = "tickets.of_message"

    actor: Actor
    message_id: UUID


class UpdateTicket(Command):
    queue = "tickets.update"

    actor: Actor
    ticket_id: UUID
    data: TicketUpdate
    fields: list[str]


class ListTickets(Command, PageQuery):
    queue = "tickets.list"

    actor: Actor
    filter: TicketFilter = Field(default_factory=TicketFilter)


class ExportTicketsPage(ListTickets):
    """A larger page of the list, for streaming an export one page at a time."""

    queue = "tickets.export_page"

    limit: int = Field(default=500, ge=1, le=1000)


class GetTicketHistory(Command):
    queue = "tickets.history"

    actor: Actor
    ticket_id: UUID


class GetTicketStats(Command):
    queue = "tickets.stats"

    actor: Actor


class TicketStats(WireModel):
    by_status: dict[TicketStatus, int]
    by_issue_type: dict[IssueType, int]
    total: int


class TicketCreated(TicketPublic, Event):
    """A ticket was filed on a message."""

    event_type = "support.ticket.created"

    def event_subject(self) -> str:
        return str(self.id)


class TicketStatusChanged(Event):
    """A ticket moved between open, in_progress and resolved."""

    event_type = "support.ticket.status_changed"
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    ticket: TicketPublic
    from_status: TicketStatus = Field(alias="from")
    to_status: TicketStatus = Field(alias="to")
    actor_id: UUID

    def event_subject(self) -> str:
        return str(self.ticket.id)


class TicketUpdated(Event):
    """A ticket's priority or assignee changed."""

    event_type = "support.ticket.updated"

    ticket: TicketPublic
    changes: list[Change]
    """Changes other than status (priority, assignee)."""
    actor_id: UUID

    def event_subject(self) -> str:
        return str(self.ticket.id)
