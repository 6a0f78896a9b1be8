"""``/api/auth``: the OAuth2 password flow, refresh-token rotation, logout."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import ValidationError

from contracts.auth import Login, Logout, Refresh, TokenPair
from gateway.ratelimit import Limits, client_address
from gateway.rpc import Rpc, relay
from gateway.schemas import RefreshBody
from gateway.security import CurrentActor

router = APIRouter(prefix="/auth", tags=["auth"])
NO_STORE = {"Cache-Control": "no-store"}
FORM_FIELD = {"email": "username"}
"""The form's name of each field of ``Login``, where they differ."""


@router.post("/token", response_model=TokenPair)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    rpc: Rpc,
    limits: Limits,
) -> Response:
    """Log in with email (as ``username``) and password; answers an access and refresh token."""
    limits.hit(limits.login, client_address(request), form.username.strip().lower())
    try:
        command = Login(email=form.username, password=form.password)
    except ValidationError as exc:  # named as the client sent it: the form's fields
        errors = exc.errors(include_url=False)
        raise RequestValidationError(
            [{**e, "loc": ("body", FORM_FIELD.get(str(e["loc"][0]), e["loc"][0]))} for e in errors]
        ) from None
    return await relay(rpc, command, headers=NO_STORE)


@router.post("/refresh", response_model=TokenPair)
async def refresh(body: RefreshBody, rpc: Rpc) -> Response:
    """Spend a refresh token for a new pair; a spent one answers 401."""
    command = Refresh(refresh_token=body.refresh_token)
    return await relay(rpc, command, headers=NO_STORE)


@router.post("/logout", status_code=204)
async def logout(body: RefreshBody, rpc: Rpc, actor: CurrentActor) -> Response:
    """Revoke a refresh token."""
    await rpc.call(Logout(actor=actor, refresh_token=body.refresh_token))
    return Response(status_code=204)
