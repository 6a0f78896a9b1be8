"""Who is calling: JWT access tokens verified here, with no round trip to the users service."""

import time
from typing import Annotated
from uuid import UUID

import jwt
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from contracts.enums import Role
from contracts.rpc import Actor
from gateway.problems import Unauthenticated
from gateway.revocations import RevocationList
from gateway.settings import GatewaySettings

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


class TokenVerifier:
    """Checks access tokens. A token's signature and claims are checked once, then its actor is
    remembered until the token expires: HMAC and claim checks cost more than the rest of the
    gateway's work on a request. Expiry and revocation are checked on every request."""

    def __init__(
        self,
        settings: GatewaySettings,
        revocations: RevocationList | None = None,
        *,
        capacity: int = 10_000,
    ) -> None:
        self._settings, self._revocations, self._capacity = settings, revocations, capacity
        self._seen: dict[str, tuple[Actor, float, float, int | None]] = {}

    def verify(self, token: str) -> Actor:
        """The actor a token names, if its signature, issuer, audience and expiry all hold and
        its user's sessions were not revoked since it was issued."""
        seen = self._seen.get(token)
        if seen is None:
            seen = self._decode(token)
            if len(self._seen) >= self._capacity:
                del self._seen[next(iter(self._seen))]  # the oldest
            self._seen[token] = seen
        actor, issued_at, expires_at, rev = seen
        if expires_at <= time.time():
            self._seen.pop(token, None)
            raise Unauthenticated("the access token is invalid or expired")
        if self._revocations is not None and self._revocations.revoked(actor.id, issued_at, rev):
            raise Unauthenticated("the access token was revoked: log in again")
        return actor

    def _decode(self, token: str) -> tuple[Actor, float, float, int | None]:
        settings = self._settings
        try:
            claims = jwt.decode(
                token,
                settings.jwt_secret,
                algorithms=["HS256"],
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
            actor = Actor(id=UUID(claims["sub"]), role=Role(claims["role"]))
            rev = claims.get("rev")  # absent: issued before there was ``rev``
            if "rev" in claims and (type(rev) is not int or rev < 0):
                raise ValueError("rev is not a count of microseconds")
            return actor, float(claims["iat"]), float(claims["exp"]), rev
        except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
            raise Unauthenticated("the access token is invalid or expired") from exc


def _tokens(request: Request) -> TokenVerifier:
    tokens: TokenVerifier = request.app.state.tokens
    return tokens


async def optional_actor(
    request: Request, token: Annotated[str | None, Depends(oauth2)]
) -> Actor | None:
    return _tokens(request).verify(token) if token else None


async def current_actor(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> Actor:
    if not token:
        raise Unauthenticated("this needs a bearer token: POST /api/auth/token")
    return _tokens(request).verify(token)


CurrentActor = Annotated[Actor, Depends(current_actor)]
OptionalActor = Annotated[Actor | None, Depends(optional_actor)]
