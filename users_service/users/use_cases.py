"""Use cases on users: one transaction per command, an outbox event with every change."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql import func

from contracts.auth import Revocation, Revocations
from contracts.enums import Role
from contracts.events import EventTypes, SessionsRevoked, UserDeleted
from contracts.rpc import Actor, Page
from contracts.users import UserCreate, UserPublic, UserUpdate
from servicekit.db import Queries
from servicekit.errors import Conflict, NotFound
from servicekit.outbox import record_event
from servicekit.pagination import decode_cursor, page_of
from users_service import policy
from users_service.models import User, outbox
from users_service.passwords import hash_password
from users_service.repository import (
    RefreshTokenRepository,
    RevocationRepository,
    UserFilter,
    UserReads,
    UserRepository,
)


def to_public(user: User) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)


def _is_email_taken(exc: IntegrityError) -> bool:
    return "uq_users_email_lower" in str(exc.orig)


async def _end_sessions(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Void the user's access tokens issued until now, everywhere (gateways hear the event)."""
    revoked_at = await RevocationRepository(session).revoke(user_id)
    revoked = SessionsRevoked(user_id=user_id, revoked_at=revoked_at)
    await record_event(session, outbox, EventTypes.USER_SESSIONS_REVOKED, user_id, revoked)


class UsersService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], queries: Queries) -> None:
        self._sessions = sessions
        self._reads = UserReads(queries)

    async def create_user(self, *, actor: Actor | None, data: UserCreate) -> UserPublic:
        """Register a user; anyone may sign up as a customer, admins may create staff."""
        policy.check_create(actor, data.role)
        password_hash = await hash_password(data.password)
        try:
            async with self._sessions.begin() as session:
                user = await UserRepository(session).add(
                    email=str(data.email),
                    full_name=data.full_name,
                    role=data.role or Role.CUSTOMER,
                    password_hash=password_hash,
                )
                public = to_public(user)
                await record_event(session, outbox, EventTypes.USER_CREATED, user.id, public)
        except IntegrityError as exc:
            if _is_email_taken(exc):
                raise Conflict("a user with this email already exists") from exc
            raise
        return public

    async def ensure_user(self, *, email: str, password: str, full_name: str, role: Role) -> bool:
        """Create the user unless the email is taken (idempotent); True if created."""
        async with self._sessions() as session:
            if await UserRepository(session).get_by_email(email) is not None:
                return False
        try:
            await self.create_user(
                actor=None if role == Role.CUSTOMER else _SYSTEM,
                data=UserCreate(email=email, password=password, full_name=full_name, role=role),
            )
        except Conflict:
            return False  # another replica created it first
        return True

    async def get_user(self, *, actor: Actor, user_id: uuid.UUID) -> UserPublic:
        """One user, if the caller may see it."""
        user = await self._reads.get(user_id)
        if user is None:
            raise NotFound("user not found")
        policy.check_visible(actor, user.id, user.deleted_at)
        return user

    async def update_user(
        self, *, actor: Actor, user_id: uuid.UUID, data: UserUpdate, fields: set[str]
    ) -> UserPublic:
        """Change the given fields; the caller may change only what their role allows."""
        fields &= set(UserUpdate.model_fields)
        values: dict[str, Any] = {}
        for name in fields - {"password"}:
            value = getattr(data, name)
            if value is not None:
                values[name] = str(value) if name == "email" else value
        if "password" in fields and data.password is not None:
            values["password_hash"] = await hash_password(data.password)
        try:
            async with self._sessions.begin() as session:
                users = UserRepository(session)
                user = await users.get(user_id, for_update=True)
                if user is None:
                    raise NotFound("user not found")
                policy.check_visible(actor, user.id, user.deleted_at)
                policy.check_update(actor, user.id, fields)
                if values:
                    for name, value in values.items():
                        setattr(user, name, value)
                    await session.flush()
                    await session.refresh(user)
                    if "password_hash" in values:
                        await RefreshTokenRepository(session).revoke_all(user.id)
                    if "password_hash" in values or "role" in values:
                        await _end_sessions(session, user.id)
                    await record_event(
                        session, outbox, EventTypes.USER_UPDATED, user.id, to_public(user)
                    )
                public = to_public(user)
        except IntegrityError as exc:
            if _is_email_taken(exc):
                raise Conflict("a user with this email already exists") from exc
            raise
        return public

    async def list_users(
        self,
        *,
        actor: Actor,
        flt: UserFilter,
        limit: int,
        cursor: str | None,
        include_total: bool,
    ) -> Page[UserPublic]:
        """A page of users, newest first, filtered by ``q`` (email or name) and role."""
        policy.check_list(actor, include_deleted=flt.include_deleted)
        after = decode_cursor(cursor) if cursor else None
        rows = await self._reads.page(flt, after=after, limit=limit)
        total = await self._reads.count(flt) if include_total else None
        return page_of(rows, limit, total=total)

    async def delete_user(self, *, actor: Actor, user_id: uuid.UUID, hard: bool) -> None:
        """Soft delete (no more logins, data kept) or, for admins, hard delete (all gone)."""
        async with self._sessions.begin() as session:
            users = UserRepository(session)
            user = await users.get(user_id, for_update=True)
            if user is None:
                raise NotFound("user not found")
            policy.check_visible(actor, user.id, user.deleted_at)
            policy.check_delete(actor, user.id, hard=hard)
            if hard:
                await users.delete(user.id)
            elif user.deleted_at is None:
                user.deleted_at = func.now()
                await RefreshTokenRepository(session).revoke_all(user.id)
            else:
                return  # already soft-deleted: nothing happens twice
            await _end_sessions(session, user.id)
            await record_event(
                session,
                outbox,
                EventTypes.USER_DELETED,
                user.id,
                UserDeleted(user_id=user.id, hard=hard),
            )

    async def revocations_since(self, *, since: datetime) -> Revocations:
        """Sessions revoked after ``since``: what a starting gateway must know."""
        async with self._sessions() as session:
            rows = await RevocationRepository(session).since(since)
        return Revocations(
            items=[Revocation(user_id=r.user_id, revoked_at=r.revoked_at) for r in rows]
        )

    async def restore_user(self, *, actor: Actor, user_id: uuid.UUID) -> UserPublic:
        """Undo a soft delete (admins only)."""
        async with self._sessions.begin() as session:
            user = await UserRepository(session).get(user_id, for_update=True)
            if user is None:
                raise NotFound("user not found")
            policy.check_visible(actor, user.id, user.deleted_at)
            policy.check_admin(actor)
            if user.deleted_at is not None:
                user.deleted_at = None
                await session.flush()
                await session.refresh(user)
                await record_event(
                    session, outbox, EventTypes.USER_UPDATED, user.id, to_public(user)
                )
            return to_public(user)


_SYSTEM = Actor(id=uuid.UUID(int=0), role=Role.ADMIN)
"""The actor of start-up work such as creating the bootstrap admin."""
