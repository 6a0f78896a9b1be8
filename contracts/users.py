"""Users: the bodies of the REST API and the commands behind them."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, EmailStr, Field, StringConstraints, field_validator

from contracts.base import Command, Event, InputModel, WireModel, refuse_nul
from contracts.enums import Role
from contracts.rpc import Actor, PageQuery

PASSWORD_MIN_LENGTH = 10


def _check_password_strength(password: str) -> str:
    if len(password) < PASSWORD_MIN_LENGTH:
        raise ValueError(f"password must have at least {PASSWORD_MIN_LENGTH} characters")
    classes = (str.islower, str.isupper, str.isdigit)
    used = {i for ch in password for i, test in enumerate(classes) if test(ch)}
    used |= {3 for ch in password if not ch.isalnum()}
    if len(used) < 2:
        raise ValueError("password must mix at least two of: lowercase, uppercase, digits, symbols")
    return password


Password = Annotated[
    str, StringConstraints(max_length=256), AfterValidator(_check_password_strength)
]
FullName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[EmailStr, StringConstraints(max_length=320)]


class UserCreate(InputModel):
    email: Email
    password: Password
    full_name: FullName
    role: Role | None = None


class UserUpdate(InputModel):
    """Partial update: only the fields present are changed."""

    email: Email | None = None
    full_name: FullName | None = None
    password: Password | None = None
    role: Role | None = None


class UserPublic(WireModel):
    id: UUID
    email: str
    full_name: str
    role: Role
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class CreateUser(Command):
    queue = "users.create"

    actor: Actor | None
    data: UserCreate


class GetUser(Command):
    queue = "users.get"

    actor: Actor
    user_id: UUID


class UpdateUser(Command):
    queue = "users.update"

    actor: Actor
    user_id: UUID
    data: UserUpdate
    fields: list[str] = Field(description="names of the fields the client sent")


class ListUsers(Command, PageQuery):
    queue = "users.list"

    actor: Actor
    q: str | None = Field(default=None, max_length=200)
    role: Role | None = None
    include_deleted: bool = False

    @field_validator("q", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return refuse_nul(value)


class DeleteUser(Command):
    queue = "users.delete"

    actor: Actor
    user_id: UUID
    hard: bool = False


class RestoreUser(Command):
    queue = "users.restore"

    actor: Actor
    user_id: UUID


class UserCreated(UserPublic, Event):
    """A user signed up or was created by an admin."""

    event_type = "support.user.created"

    def event_subject(self) -> str:
        return str(self.id)


class UserUpdated(UserPublic, Event):
    """A user's profile, role or deletion state changed."""

    event_type = "support.user.updated"

    def event_subject(self) -> str:
        return str(self.id)


class UserDeleted(Event):
    """A user was deleted; `hard` means erase their data."""

    event_type = "support.user.deleted"

    user_id: UUID
    hard: bool

    def event_subject(self) -> str:
        return str(self.user_id)


class SessionsRevoked(Event):
    """A user's access tokens issued until `revoked_at` are no longer valid.

    The user was deleted, or their role or password changed."""

    event_type = "support.user.sessions_revoked"

    user_id: UUID
    revoked_at: datetime

    def event_subject(self) -> str:
        return str(self.user_id)
