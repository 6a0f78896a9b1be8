"""Issuing tokens: short-lived JWT access tokens, opaque rotating refresh tokens."""

import hashlib
import secrets
import time
import uuid
from datetime import datetime

import jwt

from contracts.auth import microseconds
from contracts.enums import Role
from servicekit.settings import AuthSettings


def issue_access_token(
    settings: AuthSettings, user_id: uuid.UUID, role: Role, *, revoked_at: datetime | None = None
) -> str:
    """An access token; ``revoked_at`` is the user's latest session revocation as read with
    the user (None: none), which the token outlives (``rev``), unlike any later one."""
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "role": role.value,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + settings.access_token_ttl,
        "jti": uuid.uuid4().hex,
        "rev": 0 if revoked_at is None else microseconds(revoked_at),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def new_refresh_token() -> tuple[str, bytes]:
    """A fresh refresh token and the hash under which it is stored."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
