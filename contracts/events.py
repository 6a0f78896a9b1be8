"""Events: CloudEvents 1.0 envelopes on ``support.events`` and the data each type carries."""

from datetime import datetime
from typing import Any, Final
from uuid import UUID

from pydantic import Field

from contracts.base import WireModel
from contracts.users import UserPublic

SPEC_VERSION: Final = "1.0"
CONTENT_TYPE: Final = "application/cloudevents+json"


class EventTypes:
    USER_CREATED: Final = "support.user.created"
    USER_UPDATED: Final = "support.user.updated"
    USER_DELETED: Final = "support.user.deleted"
    CHAT_CREATED: Final = "support.chat.created"
    MESSAGE_CREATED: Final = "support.message.created"
    MESSAGE_SEALED: Final = "support.message.sealed"
    MESSAGE_FAILED: Final = "support.message.failed"


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


class UserCreated(UserPublic):
    """Data of ``support.user.created`` and ``support.user.updated``: the user as it is now."""


class UserDeleted(WireModel):
    """Data of ``support.user.deleted``: ``hard`` means every trace of the user must go."""

    user_id: UUID
    hard: bool
