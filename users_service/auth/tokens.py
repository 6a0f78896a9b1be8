"""Issuing tokens: short-lived JWT access tokens, opaque rotating refresh tokens."""

import hashlib
import secrets
import time
import uuid

import jwt

from contracts.enums import Role
from servicekit.settings import AuthSettings


def issue_access_token(settings: AuthSettings, user_id: uuid.UUID, role: Role) -> str:
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "role": role.value,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + settings.access_token_ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def new_refresh_token() -> tuple[str, bytes]:
    """A fresh refresh token and the hash under which it is stored."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
