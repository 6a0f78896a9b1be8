"""Use cases on users: one transaction per change, an event with every change.

Passwords are hashed before the transaction begins: a hash takes tens of milliseconds, which a
transaction (and its connection, and the user's row lock) need not wait for.
"""

import uuid
from typing import Any

from contracts.enums import Role
from contracts.rpc import Actor, Page
from contracts.users import (
    CreateUser,
    DeleteUser,
    GetUser,
    ListUsers,
    RestoreUser,
    UpdateUser,
    UserCreate,
    UserCreated,
    UserDeleted,
    UserPublic,
    UserUpdate,
    UserUpdated,
)
from servicekit.db import NOW
from servicekit.errors import Conflict, NotFound
from servicekit.pagination import decode_cursor, page_of
from servicekit.usecases import UseCases
from users_service.auth.sessions import end_sessions
from users_service.uow import UsersUnitOfWork
from users_service.users import policy
from users_service.users.repository import EmailTaken, UserFilter

use_cases: UseCases[UsersUnitOfWork] = UseCases()
EMAIL_TAKEN = "a user with this email already exists"
SYSTEM = Actor(id=uuid.UUID(int=0), role=Role.ADMIN)
"""The actor of start-up work such as creating the bootstrap admin."""


@use_cases.handles
async def create_user(cmd: CreateUser, uow: UsersUnitOfWork) -> UserPublic:
    """Register a user; anyone may sign up as a customer, admins may create staff."""
    policy.check_create(cmd.actor, cmd.data.role)
    password_hash = await uow.passwords.hash(cmd.data.password)
    async with uow:
        try:
            user = await uow.users.add(
                email=str(cmd.data.email),
                full_name=cmd.data.full_name,
                role=cmd.data.role or Role.CUSTOMER,
                password_hash=password_hash,
            )
        except EmailTaken as exc:
            raise Conflict(EMAIL_TAKEN) from exc
        uow.events.add(UserCreated(**user.model_dump()))
        await uow.commit()
    return user


async def ensure_user(
    uow: UsersUnitOfWork, *, email: str, password: str, full_name: str, role: Role
) -> bool:
    """Create the user unless the email is taken (idempotent); True if created. (Start-up
    work, such as the bootstrap admin: no command asks for it.)"""
    if await uow.users.account_by_email(email) is not None:
        return False
    command = CreateUser(
        actor=None if role == Role.CUSTOMER else SYSTEM,
        data=UserCreate(email=email, password=password, full_name=full_name, role=role),
    )
    try:
        await create_user(command, uow)
    except Conflict:
        return False  # another replica created it first
    return True


@use_cases.handles
async def get_user(cmd: GetUser, uow: UsersUnitOfWork) -> UserPublic:
    """One user, if the caller may see it."""
    user = await uow.users.get(cmd.user_id)
    if user is None:
        raise NotFound("user not found")
    policy.check_visible(cmd.actor, user.id, user.deleted_at)
    return user


@use_cases.handles
async def update_user(cmd: UpdateUser, uow: UsersUnitOfWork) -> UserPublic:
    """Change the given fields; the caller may change only what their role allows. A new
    password or role ends the user's sessions (a new password, their refresh tokens too)."""
    actor, data = cmd.actor, cmd.data
    fields = set(cmd.fields) & set(UserUpdate.model_fields)
    values: dict[str, Any] = {}
    for name in fields - {"password"}:
        value = getattr(data, name)
        if value is not None:
            values[name] = str(value) if name == "email" else value
    if "password" in fields and data.password is not None:
        values["password_hash"] = await uow.passwords.hash(data.password)
    async with uow:
        user = await uow.users.lock(cmd.user_id)
        if user is None:
            raise NotFound("user not found")
        policy.check_visible(actor, user.id, user.deleted_at)
        policy.check_update(actor, user.id, fields)
        if not values:
            return user
        # A value the user has already is not written (``updated_at`` stays), yet the update
        # is recorded, and a role given again still ends the sessions.
        written = {
            name: value
            for name, value in values.items()
            if name == "password_hash" or getattr(user, name) != value
        }
        if written:
            try:
                user = await uow.users.change(user.id, written)
            except EmailTaken as exc:
                raise Conflict(EMAIL_TAKEN) from exc
        if "password_hash" in values:
            await uow.refresh_tokens.revoke_all(user.id)
        if "password_hash" in values or "role" in values:
            await end_sessions(uow, user.id)
        uow.events.add(UserUpdated(**user.model_dump()))
        await uow.commit()
    return user


@use_cases.handles
async def list_users(cmd: ListUsers, uow: UsersUnitOfWork) -> Page[UserPublic]:
    """A page of users, newest first, filtered by ``q`` (email or name) and role."""
    policy.check_list(cmd.actor, include_deleted=cmd.include_deleted)
    flt = UserFilter(q=cmd.q, role=cmd.role, include_deleted=cmd.include_deleted)
    after = decode_cursor(cmd.cursor) if cmd.cursor else None
    rows = await uow.users.page(flt, after=after, limit=cmd.limit)
    total = await uow.users.count(flt) if cmd.include_total else None
    return page_of(rows, cmd.limit, total=total)


@use_cases.handles
async def delete_user(cmd: DeleteUser, uow: UsersUnitOfWork) -> None:
    """Soft delete (no more logins, data kept) or, for admins, hard delete (all gone)."""
    async with uow:
        user = await uow.users.lock(cmd.user_id)
        if user is None:
            raise NotFound("user not found")
        policy.check_visible(cmd.actor, user.id, user.deleted_at)
        policy.check_delete(cmd.actor, user.id, hard=cmd.hard)
        if cmd.hard:
            await uow.users.delete(user.id)
        elif user.deleted_at is None:
            await uow.users.change(user.id, {"deleted_at": NOW})
            await uow.refresh_tokens.revoke_all(user.id)
        else:
            return  # already soft-deleted: nothing happens twice
        await end_sessions(uow, user.id)
        uow.events.add(UserDeleted(user_id=user.id, hard=cmd.hard))
        await uow.commit()


@use_cases.handles
async def restore_user(cmd: RestoreUser, uow: UsersUnitOfWork) -> UserPublic:
    """Undo a soft delete (admins only)."""
    async with uow:
        user = await uow.users.lock(cmd.user_id)
        if user is None:
            raise NotFound("user not found")
        policy.check_visible(cmd.actor, user.id, user.deleted_at)
        policy.check_admin(cmd.actor)
        if user.deleted_at is not None:
            user = await uow.users.change(user.id, {"deleted_at": None})
            uow.events.add(UserUpdated(**user.model_dump()))
            await uow.commit()
    return user
