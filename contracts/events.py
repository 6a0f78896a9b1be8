"""Events: CloudEvents 1.0 envelopes on ``support.events``, and the catalog of their types.

Each event's ``data`` model lives beside the commands of its domain (``contracts.users``,
``contracts.chat``, ``contracts.tickets``) and carries its own type (``event_type``).
"""

import inspect
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from pydantic import Field

from contracts.base import Event, WireModel
from contracts.chat import ChatCreated, MessageCreated, MessageFailed, MessageSealed
from contracts.tickets import TicketCreated, TicketStatusChanged, TicketUpdated
from contracts.users import SessionsRevoked, UserCreated, UserDeleted, UserUpdated

SPEC_VERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/cloudevents+json"


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


EVENTS: Final[tuple[type[Event], ...]] = (
    UserCreated,
    UserUpdated,
    UserDeleted,
    SessionsRevoked,
    ChatCreated,
    MessageCreated,
    MessageSealed,
    MessageFailed,
    TicketCreated,
    TicketStatusChanged,
    TicketUpdated,
)
"""Every event published on ``support.events``, in the order the documents list them."""


def description(event: type[Event]) -> str:
    """What an event means: the first paragraph of its class docstring, on one line."""
    doc = inspect.getdoc(event) or ""
    return " ".join(doc.split("\n\n")[0].split())


EVENT_CATALOG: Final[dict[str, tuple[type[Event], str]]] = {
    event.event_type: (event, description(event)) for event in EVENTS
}
"""Every event type on ``support.events``, the model of its ``data``, and what it means."""


def check_catalogued(event: Event) -> None:
    """Refuse an event whose type the catalog does not list under that very model."""
    listed = EVENT_CATALOG.get(type(event).event_type)
    if listed is None or listed[0] is not type(event):
        raise TypeError(f"{type(event).__name__} is not in the event catalog")


__all__ = [
    "CONTENT_TYPE",
    "EVENTS",
    "EVENT_CATALOG",
    "SPEC_VERSION",
    "ChatCreated",
    "CloudEvent",
    "MessageCreated",
    "MessageFailed",
    "MessageSealed",
    "SessionsRevoked",
    "TicketCreated",
    "TicketStatusChanged",
    "TicketUpdated",
    "UserCreated",
    "UserDeleted",
    "UserUpdated",
    "check_catalogued",
    "description",
]
