"""Who is calling: JWT access tokens verified here, with no round trip to the users service."""

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


def verify_access_token(
    token: str, settings: GatewaySettings, revocations: RevocationList | None = None
) -> Actor:
    """The actor a token names, if its signature, issuer, audience and expiry all hold and
    its user's sessions were not revoked since it was issued."""
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
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise Unauthenticated("the access token is invalid or expired") from exc
    if revocations is not None and revocations.revoked(actor.id, float(claims["iat"])):
        raise Unauthenticated("the access token was revoked: log in again")
    return actor


def _settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


def _revocations(request: Request) -> RevocationList:
    revocations: RevocationList = request.app.state.revocations
    return revocations


async def optional_actor(
    request: Request, token: Annotated[str | None, Depends(oauth2)]
) -> Actor | None:
    return verify_access_token(token, _settings(request), _revocations(request)) if token else None


async def current_actor(request: Request, token: Annotated[str | None, Depends(oauth2)]) -> Actor:
    if not token:
        raise Unauthenticated("this needs a bearer token: POST /api/auth/token")
    return verify_access_token(token, _settings(request), _revocations(request))


CurrentActor = Annotated[Actor, Depends(current_actor)]
OptionalActor = Annotated[Actor | None, Depends(optional_actor)]
