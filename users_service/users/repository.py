"""Where users are kept: what the use cases need (``UserStore``) and its SQL.

Reads are single statements on the engine's own connections (no transaction); changes, and
the reads that must see them, run in the unit of work's session, inside ``async with uow:``.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from contracts.enums import Role
from contracts.users import UserPublic
from servicekit.db import Sql, now_as_sql
from servicekit.pagination import Key, keyset_past
from servicekit.uow import SqlUnitOfWork
from users_service.auth.models import SessionRevocation
from users_service.users.models import User
from users_service.users.search import contains


@dataclass(frozen=True)
class UserFilter:
    q: str | None
    role: Role | None
    include_deleted: bool


@dataclass(frozen=True)
class Account:
    """What logging in and issuing tokens need of a user (its hash never leaves the service)."""

    id: uuid.UUID
    role: Role
    password_hash: str
    deleted_at: datetime | None
    last_revocation: datetime | None
    """The user's newest session revocation (None: none), read in the same statement as the
    rest: an access token issued from this account outlives that one, not any later one."""


class EmailTaken(Exception):
    """Another user has this email (whatever its case): the database's unique index says so."""


class UserStore(Protocol):
    async def get(self, user_id: uuid.UUID) -> UserPublic | None: ...

    async def page(self, flt: UserFilter, *, after: Key | None, limit: int) -> list[UserPublic]:
        """Newest first, ``limit + 1`` rows."""
        ...

    async def count(self, flt: UserFilter) -> int: ...

    async def account_by_email(self, email: str) -> Account | None:
        """The account whose email is ``email`` whatever its case (soft-deleted or not), with
        its newest revocation, in one snapshot."""
        ...

    async def account(self, user_id: uuid.UUID) -> Account | None:
        """The account with its newest revocation, read in one statement of the unit of
        work's transaction."""
        ...

    async def add(
        self, *, email: str, full_name: str, role: Role, password_hash: str
    ) -> UserPublic:
        """The new user; ``EmailTaken`` if the email is someone's already."""
        ...

    async def lock(self, user_id: uuid.UUID) -> UserPublic | None:
        """The user, locked until the unit of work ends."""
        ...

    async def change(self, user_id: uuid.UUID, values: dict[str, Any]) -> UserPublic:
        """Set ``values`` (columns of the user: ``email``, ``full_name``, ``role``,
        ``password_hash``, ``deleted_at``; ``NOW`` is the transaction's time); the user as it
        is then (``updated_at`` is the transaction's time too). ``EmailTaken`` if the new
        email is someone else's."""
        ...

    async def rehash(self, user_id: uuid.UUID, *, old: str, new: str) -> None:
        """Replace the user's password hash ``old`` by ``new`` (a hash of the same password
        with today's parameters), unless it changed meanwhile."""
        ...

    async def delete(self, user_id: uuid.UUID) -> None:
        """Erase the user (their refresh tokens go with them)."""
        ...


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


def _is_email_taken(exc: IntegrityError) -> bool:
    return "uq_users_email_lower" in str(exc.orig)


PUBLIC_COLUMNS = tuple(User.__table__.c[name] for name in UserPublic.model_fields)
_LAST_REVOCATION = (
    select(func.max(SessionRevocation.revoked_at))
    .where(SessionRevocation.user_id == User.id)
    .correlate(User)
    .scalar_subquery()
    .label("last_revocation")
)
"""The user's newest session revocation (NULL: none), read in the statement that reads the
user: one snapshot, so any revocation it does not see is newer than the one it does
(``RevocationStore.revoke``)."""
ACCOUNT_COLUMNS = (User.id, User.role, User.password_hash, User.deleted_at, _LAST_REVOCATION)
_GET = Sql.of(select(*PUBLIC_COLUMNS).where(User.id == bindparam("user_id")))
_ACCOUNT_BY_EMAIL = Sql.of(
    select(*ACCOUNT_COLUMNS).where(func.lower(User.email) == bindparam("email"))
)


def _account(row: Mapping[str, Any] | RowMapping) -> Account:
    return Account(
        id=row["id"],
        role=Role(row["role"]),  # asyncpg reads an enum as its text
        password_hash=row["password_hash"],
        deleted_at=row["deleted_at"],
        last_revocation=row["last_revocation"],
    )


class UserRepository:
    """``UserStore`` on Postgres."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def get(self, user_id: uuid.UUID) -> UserPublic | None:
        return await self._uow.queries.one_as(UserPublic, _GET, user_id=user_id)

    async def page(self, flt: UserFilter, *, after: Key | None, limit: int) -> list[UserPublic]:
        conditions = _conditions(flt)
        if after is not None:
            conditions.append(keyset_past(User.created_at, User.id, after, newest_first=True))
        stmt = (
            select(*PUBLIC_COLUMNS)
            .where(and_(*conditions))
            .order_by(User.created_at.desc(), User.id.desc())
            .limit(limit + 1)
        )
        return await self._uow.queries.all_as(UserPublic, stmt)

    async def count(self, flt: UserFilter) -> int:
        stmt = select(func.count()).select_from(User).where(and_(*_conditions(flt)))
        return int(await self._uow.queries.scalar(stmt))

    async def account_by_email(self, email: str) -> Account | None:
        row = await self._uow.queries.one(_ACCOUNT_BY_EMAIL, email=email.lower())
        return None if row is None else _account(row)

    async def account(self, user_id: uuid.UUID) -> Account | None:
        stmt = select(*ACCOUNT_COLUMNS).where(User.id == user_id)
        row = (await self._uow.session.execute(stmt)).mappings().one_or_none()
        return None if row is None else _account(row)

    async def add(
        self, *, email: str, full_name: str, role: Role, password_hash: str
    ) -> UserPublic:
        stmt = (
            insert(User)
            .values(email=email, full_name=full_name, role=role, password_hash=password_hash)
            .returning(*PUBLIC_COLUMNS)
        )
        return await self._written(stmt)

    async def lock(self, user_id: uuid.UUID) -> UserPublic | None:
        stmt = select(*PUBLIC_COLUMNS).where(User.id == user_id).with_for_update()
        row = (await self._uow.session.execute(stmt)).mappings().one_or_none()
        return None if row is None else UserPublic.model_validate(dict(row))

    async def change(self, user_id: uuid.UUID, values: dict[str, Any]) -> UserPublic:
        stmt = (
            update(User)
            .where(User.id == user_id)
            .values({name: now_as_sql(value) for name, value in values.items()})
            .returning(*PUBLIC_COLUMNS)
        )
        return await self._written(stmt)

    async def rehash(self, user_id: uuid.UUID, *, old: str, new: str) -> None:
        await self._uow.session.execute(
            update(User)
            .where(User.id == user_id, User.password_hash == old)
            .values(password_hash=new)
        )

    async def delete(self, user_id: uuid.UUID) -> None:
        await self._uow.session.execute(delete(User).where(User.id == user_id))

    async def _written(self, stmt: Any) -> UserPublic:
        """The user an INSERT or UPDATE ... RETURNING wrote; ``EmailTaken`` as it says."""
        try:
            row = (await self._uow.session.execute(stmt)).mappings().one()
        except IntegrityError as exc:
            if _is_email_taken(exc):
                raise EmailTaken from exc
            raise
        return UserPublic.model_validate(dict(row))
