"""Request bodies as the REST API takes them: the contract's models, strictly.

On the bus, readers are tolerant (unknown fields are ignored); at the HTTP edge, unknown fields
and explicit nulls are rejected with 422 so a client's typo never passes silently.
"""

from typing import Any

from pydantic import ConfigDict, model_validator

from contracts.auth import RefreshTokenBody
from contracts.chat import ChatCreate, MessageCreate
from contracts.tickets import TicketCreate, TicketUpdate
from contracts.users import UserCreate, UserUpdate

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class UserCreateBody(UserCreate):
    model_config = ConfigDict(**STRICT, title="UserCreate")


def _refuse_nulls(data: Any, nullable: frozenset[str] = frozenset()) -> Any:
    """A partial update names what changes; null is no value, unless the field may be empty."""
    if isinstance(data, dict):
        nulls = [name for name, value in data.items() if value is None and name not in nullable]
        if nulls:
            raise ValueError(f"omit a field rather than send null: {', '.join(nulls)}")
    return data


class UserUpdateBody(UserUpdate):
    model_config = ConfigDict(**STRICT, title="UserUpdate")

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        return _refuse_nulls(data)


class RefreshBody(RefreshTokenBody):
    model_config = ConfigDict(**STRICT, title="RefreshRequest")


class ChatCreateBody(ChatCreate):
    model_config = ConfigDict(**STRICT, title="ChatCreate")


class MessageCreateBody(MessageCreate):
    model_config = ConfigDict(**STRICT, title="MessageCreate")


class TicketCreateBody(TicketCreate):
    model_config = ConfigDict(**STRICT, title="TicketCreate")


class TicketUpdateBody(TicketUpdate):
    model_config = ConfigDict(**STRICT, title="TicketUpdate")

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        return _refuse_nulls(data, nullable=frozenset({"assignee_id"}))
