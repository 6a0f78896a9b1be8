"""The RPC envelope: who is asking, and the typed error a service answers instead of raising.

A reply is an AMQP message whose ``type`` property says what the body is: ``REPLY_OK`` for the
command's result as JSON (empty for commands that return nothing), ``REPLY_ERROR`` for an
``ErrorReply``. Keeping the result unwrapped lets the gateway pass the bytes straight through.
"""

from typing import Any, Final, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer

from contracts.base import WireModel
from contracts.enums import ErrorCode, Role

REPLY_OK: Final = "reply.ok"
REPLY_ERROR: Final = "reply.error"
DEADLINE_HEADER: Final = "x-deadline"
"""Request header: the Unix time in milliseconds after which the caller no longer waits (an
integer: AMQP floats are 32-bit). The request's AMQP ``expiration`` drops it while queued; this
drops it when a consumer holds it but gets to it too late."""


class Actor(WireModel):
    """The authenticated caller on whose behalf a command runs."""

    id: UUID
    role: Role


class FieldError(WireModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorReply(WireModel):
    """A domain error in place of a result; ``extra`` carries details such as ``ticket_id``."""

    code: ErrorCode
    detail: str
    errors: list[FieldError] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)


class Ping(WireModel):
    pass


class Pong(WireModel):
    service: str
    database: bool


class PageQuery(WireModel):
    """Cursor pagination of a list command."""

    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=512)
    include_total: bool = False


ItemT = TypeVar("ItemT", bound=BaseModel)


class Page(WireModel, Generic[ItemT]):
    """A page of a list; ``total`` is present only when the client asked for it."""

    items: list[ItemT]
    next_cursor: str | None = None
    total: int | None = None

    @model_serializer(mode="wrap")
    def _omit_unasked_total(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("total") is None:
            data.pop("total", None)
        return data
