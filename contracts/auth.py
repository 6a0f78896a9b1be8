"""Authentication commands: the password flow, refresh-token rotation and logout."""

from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID

from pydantic import Field

from contracts.base import Command, InputModel, WireModel
from contracts.rpc import Actor


class Login(InputModel, Command):
    """The password flow's form (``email`` is its ``username``); no NUL, as every input."""

    queue = "auth.login"

    email: str = Field(max_length=320)
    password: str = Field(max_length=256)


class RefreshTokenBody(WireModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class Refresh(Command, RefreshTokenBody):
    queue = "auth.refresh"


class Logout(Command, RefreshTokenBody):
    queue = "auth.logout"

    actor: Actor


class TokenPair(WireModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class AccessClaims(WireModel):
    """What an access token (JWT) asserts; verified by the gateway without a round trip."""

    sub: str
    role: str
    iss: str
    aud: str
    exp: int
    iat: int
    jti: str
    rev: int = 0
    """The user's latest session revocation when the token was issued (``microseconds``; 0:
    none). A later revocation voids the token; this one and earlier ones do not."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def microseconds(moment: datetime) -> int:
    """``moment`` as whole microseconds since the epoch: exact (Postgres keeps microseconds),
    so the users service and a gateway reading the same revocation get the same number."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


class ListRevocations(Command):
    """Sessions revoked after ``since`` (a gateway catching up when it starts)."""

    queue = "auth.revocations"

    since: datetime


class Revocation(WireModel):
    user_id: UUID
    revoked_at: datetime


class Revocations(WireModel):
    items: list[Revocation]
