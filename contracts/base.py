"""Base model of everything on the wire."""

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """Tolerant reader: unknown fields are ignored, so producers may add fields freely."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
