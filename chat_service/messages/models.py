"""The table of messages."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Text,
    func,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from chat_service.chats.models import Chat
from chat_service.schema import SCHEMA, Base
from contracts.enums import MessageStatus

status_enum = Enum(
    MessageStatus,
    name="message_status",
    schema=SCHEMA,
    values_callable=lambda statuses: [s.value for s in statuses],
)


class Message(Base):
    """A customer's input and the AI's answer; sealed (immutable, by trigger) once answered."""

    __tablename__ = "messages"

    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, server_default=text("gen_random_uuid()")
    )
    chat_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Chat.id, ondelete="CASCADE"))
    user_input: Mapped[str] = mapped_column(Text)
    ai_response: Mapped[str | None] = mapped_column(Text)
    status: Mapped[MessageStatus] = mapped_column(status_enum, server_default="pending")
    references: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    model: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    emissions: Mapped[int] = mapped_column(Integer, server_default="1")
    emitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sealed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_messages_chat_id_created_at", chat_id, created_at, id),
        Index(
            "uq_messages_chat_id_idempotency_key",
            chat_id,
            idempotency_key,
            unique=True,
            postgresql_where=idempotency_key.is_not(None),
        ),
        Index("ix_messages_pending", emitted_at, postgresql_where=status == MessageStatus.PENDING),
        Index(
            "ix_messages_sealed_turns",
            chat_id,
            created_at.desc(),
            id.desc(),
            postgresql_where=status == MessageStatus.SEALED,
        ),
    )


def status_is(status: MessageStatus) -> ColumnElement[bool]:
    """``status = '<status>'`` with the value written into the SQL, not bound: the partial
    indexes above serve only a plan that can see the value, and a prepared statement's generic
    plan (Postgres switches to it from the sixth execution on) cannot see a bound one."""
    return Message.status == literal_column(f"'{status.value}'", status_enum)
