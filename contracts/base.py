"""Base model of everything on the wire."""

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """Tolerant reader: unknown fields are ignored, so producers may add fields freely.

    Strings are kept exactly as sent: a space in an answer or a stream delta is content.
    """

    model_config = ConfigDict(extra="ignore")


class InputModel(WireModel):
    """What a client typed: surrounding whitespace is trimmed."""

    model_config = ConfigDict(str_strip_whitespace=True)
