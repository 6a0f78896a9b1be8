"""Base models of everything on the wire: commands, the events' data, input from clients."""

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, field_validator


class WireModel(BaseModel):
    """Tolerant reader: unknown fields are ignored, so producers may add fields freely.

    Strings are kept exactly as sent: a space in an answer or a stream delta is content.
    """

    model_config = ConfigDict(extra="ignore")


def refuse_nul(value: Any) -> Any:
    """Text with a NUL character (U+0000) is refused: Postgres cannot store it in text."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text must not contain the NUL character (U+0000)")
    return value


class InputModel(WireModel):
    """What a client typed: surrounding whitespace is trimmed; no text holds a NUL."""

    model_config = ConfigDict(str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return refuse_nul(value)


class Command(WireModel):
    """A request one service answers. ``queue`` is its durable RPC queue (the command's name on
    the bus); one use case handles it."""

    queue: ClassVar[str]


class Event(WireModel):
    """The ``data`` of a CloudEvent whose ``type`` is ``event_type``; the class docstring's first
    line says what happened (it is the event's description in the AsyncAPI document)."""

    event_type: ClassVar[str]

    def event_subject(self) -> str:
        """The CloudEvents ``subject``: the id of what the event is about."""
        raise NotImplementedError
