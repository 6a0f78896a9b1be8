"""Tables of tickets and their history."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Enum, ForeignKey, Identity, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from contracts.enums import IssueType, Priority, TicketStatus
from ticket_service.schema import SCHEMA, Base


def _enum(kind: type[IssueType | Priority | TicketStatus], name: str) -> Enum:
    return Enum(
        kind, name=name, schema=SCHEMA, values_callable=lambda members: [m.value for m in members]
    )


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    message_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    chat_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID] = mapped_column()
    reporter_id: Mapped[uuid.UUID] = mapped_column()
    issue_type: Mapped[IssueType] = mapped_column(_enum(IssueType, "issue_type"))
    status: Mapped[TicketStatus] = mapped_column(
        _enum(TicketStatus, "ticket_status"), server_default="open"
    )
    priority: Mapped[Priority] = mapped_column(_enum(Priority, "priority"), server_default="normal")
    assignee_id: Mapped[uuid.UUID | None] = mapped_column()
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    """Kept by a trigger on every update."""
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TicketChange(Base):
    """One row per change of a ticket: who, when, which field, from what, to what."""

    __tablename__ = "ticket_history"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Ticket.id, ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_id: Mapped[uuid.UUID] = mapped_column()
    field: Mapped[str] = mapped_column(Text)
    from_value: Mapped[str | None] = mapped_column(Text)
    to_value: Mapped[str | None] = mapped_column(Text)
