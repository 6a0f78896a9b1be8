"""``/api/auth``: the OAuth2 password flow, refresh-token rotation, logout."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.security import OAuth2PasswordRequestForm

from contracts.auth import Login, Logout, Refresh, TokenPair
from gateway.ratelimit import Limits, client_address
from gateway.rpc import Rpc, relay
from gateway.schemas import RefreshBody
from gateway.security import CurrentActor

router = APIRouter(prefix="/auth", tags=["auth"])
NO_STORE = {"Cache-Control": "no-store"}


@router.post("/token", response_model=TokenPair)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    rpc: Rpc,
    limits: Limits,
) -> Response:
    """Log in with email (as ``username``) and password; answers an access and refresh token."""
    limits.hit(limits.login, client_address(request), form.username.strip().lower())
    command = Login(email=form.username, password=form.password)
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
