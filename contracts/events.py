"""Events: CloudEvents 1.0 envelopes on ``support.events`` and the data each type carries."""

from datetime import datetime
from typing import Any, Final
from uuid import UUID

from pydantic import BaseModel, Field

from contracts.base import WireModel
from contracts.chat import ChatPublic, MessageCreated, MessagePublic
from contracts.tickets import TicketPublic, TicketStatusChanged, TicketUpdated
from contracts.users import UserPublic

SPEC_VERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/cloudevents+json"


class EventTypes:
    USER_CREATED: Final = "support.user.created"
    USER_UPDATED: Final = "support.user.updated"
    USER_DELETED: Final = "support.user.deleted"
    USER_SESSIONS_REVOKED: Final = "support.user.sessions_revoked"
    CHAT_CREATED: Final = "support.chat.created"
    MESSAGE_CREATED: Final = "support.message.created"
    MESSAGE_SEALED: Final = "support.message.sealed"
    MESSAGE_FAILED: Final = "support.message.failed"
    TICKET_CREATED: Final = "support.ticket.created"
    TICKET_STATUS_CHANGED: Final = "support.ticket.status_changed"
    TICKET_UPDATED: Final = "support.ticket.updated"


class CloudEvent(WireModel):
    """A CloudEvents 1.0 structured-mode JSON envelope; ``id`` is unique, consumers dedupe on it."""

    specversion: str = SPEC_VERSION
    id: UUID
    source: str
    type: str
    subject: str | None = None
    time: datetime
    datacontenttype: str = "application/json"
    data: dict[str, Any] = Field(default_factory=dict)
    traceparent: str | None = Field(
        default=None,
        description="W3C trace context of the change that caused the event "
        "(CloudEvents distributed-tracing extension); absent if none",
    )
    tracestate: str | None = Field(
        default=None, description="W3C vendor trace state that goes with `traceparent`"
    )


class SessionsRevoked(WireModel):
    """Data of ``support.user.sessions_revoked``: tokens issued until ``revoked_at`` are void
    (the user was deleted, or their role or password changed)."""

    user_id: UUID
    revoked_at: datetime


class UserDeleted(WireModel):
    """Data of ``support.user.deleted``: ``hard`` means every trace of the user must go."""

    user_id: UUID
    hard: bool


EVENT_CATALOG: Final[dict[str, tuple[type[BaseModel], str]]] = {
    EventTypes.USER_CREATED: (UserPublic, "A user signed up or was created by an admin."),
    EventTypes.USER_UPDATED: (UserPublic, "A user's profile, role or deletion state changed."),
    EventTypes.USER_DELETED: (UserDeleted, "A user was deleted; `hard` means erase their data."),
    EventTypes.USER_SESSIONS_REVOKED: (
        SessionsRevoked,
        "A user's access tokens issued until `revoked_at` are no longer valid.",
    ),
    EventTypes.CHAT_CREATED: (ChatPublic, "A customer opened a chat."),
    EventTypes.MESSAGE_CREATED: (MessageCreated, "A customer asked; the AI worker answers."),
    EventTypes.MESSAGE_SEALED: (MessagePublic, "A message got its answer and is now immutable."),
    EventTypes.MESSAGE_FAILED: (MessagePublic, "No answer could be written; it can be retried."),
    EventTypes.TICKET_CREATED: (TicketPublic, "A ticket was filed on a message."),
    EventTypes.TICKET_STATUS_CHANGED: (
        TicketStatusChanged,
        "A ticket moved between open, in_progress and resolved.",
    ),
    EventTypes.TICKET_UPDATED: (TicketUpdated, "A ticket's priority or assignee changed."),
}
"""Every event type on ``support.events``, the model of its ``data``, and what it means."""
