"""Base models of everything on the wire: commands, the events' data, input from clients."""

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """Tolerant reader: unknown fields are ignored, so producers may add fields freely.

    Strings are kept exactly as sent: a space in an answer or a stream delta is content.
    """

    model_config = ConfigDict(extra="ignore")


class InputModel(WireModel):
    """What a client typed: surrounding whitespace is trimmed."""

    model_config = ConfigDict(str_strip_whitespace=True)


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
