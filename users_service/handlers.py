"""Command handlers: decode, call the use case, return the reply. No rules, no SQL."""

from dataclasses import dataclass

from contracts.auth import ListRevocations, Login, Logout, Refresh, Revocations, TokenPair
from contracts.names import Commands
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
from servicekit.rpc_server import RpcRouter
from users_service.auth import AuthService
from users_service.repository import UserFilter
from users_service.service import UsersService


@dataclass(frozen=True)
class Services:
    users: UsersService
    auth: AuthService


router: RpcRouter[Services] = RpcRouter()


@router.command(Commands.USERS_CREATE)
async def create_user(command: CreateUser, services: Services) -> UserPublic:
    return await services.users.create_user(actor=command.actor, data=command.data)


@router.command(Commands.USERS_GET)
async def get_user(command: GetUser, services: Services) -> UserPublic:
    return await services.users.get_user(actor=command.actor, user_id=command.user_id)


@router.command(Commands.USERS_UPDATE)
async def update_user(command: UpdateUser, services: Services) -> UserPublic:
    return await services.users.update_user(
        actor=command.actor, user_id=command.user_id, data=command.data, fields=set(command.fields)
    )


@router.command(Commands.USERS_LIST)
async def list_users(command: ListUsers, services: Services) -> Page[UserPublic]:
    return await services.users.list_users(
        actor=command.actor,
        flt=UserFilter(q=command.q, role=command.role, include_deleted=command.include_deleted),
        limit=command.limit,
        cursor=command.cursor,
        include_total=command.include_total,
    )


@router.command(Commands.USERS_DELETE)
async def delete_user(command: DeleteUser, services: Services) -> None:
    await services.users.delete_user(
        actor=command.actor, user_id=command.user_id, hard=command.hard
    )


@router.command(Commands.USERS_RESTORE)
async def restore_user(command: RestoreUser, services: Services) -> UserPublic:
    return await services.users.restore_user(actor=command.actor, user_id=command.user_id)


@router.command(Commands.AUTH_LOGIN)
async def login(command: Login, services: Services) -> TokenPair:
    return await services.auth.login(email=command.email, password=command.password)


@router.command(Commands.AUTH_REFRESH)
async def refresh(command: Refresh, services: Services) -> TokenPair:
    return await services.auth.refresh(refresh_token=command.refresh_token)


@router.command(Commands.AUTH_REVOCATIONS)
async def revocations(command: ListRevocations, services: Services) -> Revocations:
    return await services.users.revocations_since(since=command.since)


@router.command(Commands.AUTH_LOGOUT)
async def logout(command: Logout, services: Services) -> None:
    await services.auth.logout(actor=command.actor, refresh_token=command.refresh_token)
