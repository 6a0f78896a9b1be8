"""``/api/users``: sign-up, profiles, search, soft and hard delete, restore."""

from typing import Annotated
from uuid import UUID

import orjson
from fastapi import APIRouter, Query
from fastapi.responses import Response

from contracts.enums import Role
from contracts.rpc import Page
from contracts.users import (
    CreateUser,
    DeleteUser,
    GetUser,
    ListUsers,
    RestoreUser,
    UpdateUser,
    UserPublic,
)
from gateway.rpc import Rpc, relay
from gateway.schemas import UserCreateBody, UserUpdateBody
from gateway.security import CurrentActor, OptionalActor

router = APIRouter(prefix="/users", tags=["users"])
Limit = Annotated[int, Query(ge=1, le=100, description="page size")]
Cursor = Annotated[str | None, Query(max_length=512, description="from the previous page")]


@router.post("", status_code=201, response_model=UserPublic)
async def create_user(body: UserCreateBody, rpc: Rpc, actor: OptionalActor) -> Response:
    """Sign up (as a customer), or, for an admin, create a user of any role."""
    raw = await rpc.call(CreateUser(actor=actor, data=body))
    location = f"/api/users/{orjson.loads(raw)['id']}"
    return Response(raw, 201, media_type="application/json", headers={"Location": location})


@router.get("/me", response_model=UserPublic)
async def get_me(rpc: Rpc, actor: CurrentActor) -> Response:
    """The caller's own profile."""
    return await relay(rpc, GetUser(actor=actor, user_id=actor.id))


@router.get("", response_model=Page[UserPublic])
async def list_users(
    rpc: Rpc,
    actor: CurrentActor,
    q: Annotated[
        str | None, Query(max_length=200, description="substring of email or name")
    ] = None,
    role: Role | None = None,
    include_deleted: bool = False,
    include_total: bool = False,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Response:
    """Users, newest first (agents and admins)."""
    command = ListUsers(
        actor=actor,
        q=q or None,
        role=role,
        include_deleted=include_deleted,
        include_total=include_total,
        limit=limit,
        cursor=cursor,
    )
    return await relay(rpc, command)


@router.get("/{user_id}", response_model=UserPublic)
async def get_user(user_id: UUID, rpc: Rpc, actor: CurrentActor) -> Response:
    return await relay(rpc, GetUser(actor=actor, user_id=user_id))


@router.patch("/{user_id}", response_model=UserPublic)
async def update_user(
    user_id: UUID, body: UserUpdateBody, rpc: Rpc, actor: CurrentActor
) -> Response:
    """Change some fields: your own profile (not your role), or anyone's as an admin."""
    command = UpdateUser(
        actor=actor, user_id=user_id, data=body, fields=sorted(body.model_fields_set)
    )
    return await relay(rpc, command)


@router.delete("/{user_id}", status_code=204)
async def delete_user(user_id: UUID, rpc: Rpc, actor: CurrentActor, hard: bool = False) -> Response:
    """Soft delete (self or admin); ``?hard=true`` erases the user and their data (admin)."""
    await rpc.call(DeleteUser(actor=actor, user_id=user_id, hard=hard))
    return Response(status_code=204)


@router.post("/{user_id}/restore", response_model=UserPublic)
async def restore_user(user_id: UUID, rpc: Rpc, actor: CurrentActor) -> Response:
    """Undo a soft delete (admin)."""
    return await relay(rpc, RestoreUser(actor=actor, user_id=user_id))
