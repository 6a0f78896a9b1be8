"""Queries of the ``users`` schema. Returns rows and models; raises nothing HTTP-ish."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.enums import Role
from contracts.users import UserPublic
from servicekit.db import Queries, Sql
from servicekit.pagination import keyset_past
from users_service.models import RefreshToken, SessionRevocation, User
from users_service.search import contains


@dataclass(frozen=True)
class UserFilter:
    q: str | None
    role: Role | None
    include_deleted: bool


def _like_pattern(q: str) -> str:
    """``%q%`` with LIKE's own wildcards escaped, so ``q`` matches as plain text."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(flt: UserFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if not flt.include_deleted:
        conditions.append(User.deleted_at.is_(None))
    if flt.role is not None:
        conditions.append(User.role == flt.role)
    if flt.q:
        pattern = _like_pattern(flt.q)
        conditions.append(
            or_(contains(User.email, flt.q, pattern), contains(User.full_name, flt.q, pattern))
        )
    return conditions


PUBLIC_COLUMNS = tuple(User.__table__.c[name] for name in UserPublic.model_fields)
_GET = Sql.of(select(*PUBLIC_COLUMNS).where(User.id == bindparam("user_id")))


class UserReads:
    """The read paths of users, one statement each, as wire models."""

    def __init__(self, queries: Queries) -> None:
        self.queries = queries

    async def get(self, user_id: uuid.UUID) -> UserPublic | None:
        return await self.queries.one_as(UserPublic, _GET, user_id=user_id)

    async def page(
        self, flt: UserFilter, *, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[UserPublic]:
        """Newest first; ``limit + 1`` rows so the caller knows whether a next page exists."""
        conditions = _conditions(flt)
        if after is not None:
            conditions.append(keyset_past(User.created_at, User.id, after, newest_first=True))
        stmt = (
            select(*PUBLIC_COLUMNS)
            .where(and_(*conditions))
            .order_by(User.created_at.desc(), User.id.desc())
            .limit(limit + 1)
        )
        return await self.queries.all_as(UserPublic, stmt)

    async def count(self, flt: UserFilter) -> int:
        stmt = select(func.count()).select_from(User).where(and_(*_conditions(flt)))
        return int(await self.queries.scalar(stmt))


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID, *, for_update: bool = False) -> User | None:
        stmt = select(User).where(User.id == user_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def get_by_email(self, email: str) -> User | None:
        stmt = select(User).where(func.lower(User.email) == email.lower())
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add(self, **values: Any) -> User:
        user = User(**values)
        self.session.add(user)
        await self.session.flush()
        await self.session.refresh(user)
        return user

    async def delete(self, user_id: uuid.UUID) -> None:
        await self.session.execute(delete(User).where(User.id == user_id))


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, *, user_id: uuid.UUID, family_id: uuid.UUID, token_hash: bytes, expires_at: datetime
    ) -> None:
        self.session.add(
            RefreshToken(
                user_id=user_id, family_id=family_id, token_hash=token_hash, expires_at=expires_at
            )
        )
        await self.session.flush()

    async def spend(self, token_hash: bytes) -> tuple[uuid.UUID, uuid.UUID] | None:
        """Mark a live token used, atomically; return (user_id, family_id), or None."""
        stmt = (
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == token_hash,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > func.now(),
            )
            .values(used_at=func.now())
            .returning(RefreshToken.user_id, RefreshToken.family_id)
        )
        row = (await self.session.execute(stmt)).one_or_none()
        return (row.user_id, row.family_id) if row else None

    async def family_of_spent(self, token_hash: bytes) -> uuid.UUID | None:
        stmt = select(RefreshToken.family_id).where(
            RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_not(None)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def revoke_family(self, family_id: uuid.UUID) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=func.now())
        )

    async def revoke(self, token_hash: bytes, *, user_id: uuid.UUID) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == token_hash,
                RefreshToken.user_id == user_id,
                RefreshToken.revoked_at.is_(None),
            )
            .values(revoked_at=func.now())
        )

    async def revoke_all(self, user_id: uuid.UUID) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=func.now())
        )


class RevocationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def revoke(self, user_id: uuid.UUID) -> datetime:
        """Void the user's tokens from now on; return when."""
        row = SessionRevocation(user_id=user_id)
        self.session.add(row)
        await self.session.flush()
        await self.session.refresh(row)
        return row.revoked_at

    async def since(self, moment: datetime) -> list[SessionRevocation]:
        stmt = select(SessionRevocation).where(SessionRevocation.revoked_at > moment)
        return list((await self.session.execute(stmt)).scalars())
