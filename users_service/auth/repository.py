"""Where refresh tokens and session revocations are kept: what the use cases need
(``RefreshTokenStore``, ``RevocationStore``) and its SQL.

Changes run in the unit of work's session, inside ``async with uow:``; the list of revocations
is a single statement on the engine's own connections.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import bindparam, func, insert, select, update

from contracts.auth import Revocation
from servicekit.db import Sql
from servicekit.uow import SqlUnitOfWork
from users_service.auth.models import RefreshToken, SessionRevocation


@dataclass(frozen=True)
class Spent:
    """Whose refresh token was spent, and the family (the session) it belongs to."""

    user_id: uuid.UUID
    family_id: uuid.UUID


class RefreshTokenStore(Protocol):
    async def add(
        self, *, user_id: uuid.UUID, family_id: uuid.UUID, token_hash: bytes, expires_at: datetime
    ) -> None: ...

    async def spend(self, token_hash: bytes) -> Spent | None:
        """Mark a live token (neither used, revoked nor expired) used, atomically; None if
        there is no such token."""
        ...

    async def family_of_spent(self, token_hash: bytes) -> uuid.UUID | None:
        """The family of the token, if it was used already."""
        ...

    async def revoke_family(self, family_id: uuid.UUID) -> None: ...

    async def revoke(self, token_hash: bytes, *, user_id: uuid.UUID) -> None:
        """Revoke the token if it is ``user_id``'s."""
        ...

    async def revoke_all(self, user_id: uuid.UUID) -> None: ...


class RevocationStore(Protocol):
    async def revoke(self, user_id: uuid.UUID) -> datetime:
        """Void the user's access tokens issued until now; when. Callers hold the user's row
        lock, and the moment is the insert's, not the transaction's start: a user's revocations
        are in commit order, each newer than those committed before it."""
        ...

    async def since(self, moment: datetime) -> list[Revocation]:
        """The revocations after ``moment``."""
        ...


class RefreshTokenRepository:
    """``RefreshTokenStore`` on Postgres."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(
        self, *, user_id: uuid.UUID, family_id: uuid.UUID, token_hash: bytes, expires_at: datetime
    ) -> None:
        await self._uow.session.execute(
            insert(RefreshToken).values(
                user_id=user_id, family_id=family_id, token_hash=token_hash, expires_at=expires_at
            )
        )

    async def spend(self, token_hash: bytes) -> Spent | None:
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
        row = (await self._uow.session.execute(stmt)).one_or_none()
        return Spent(row.user_id, row.family_id) if row else None

    async def family_of_spent(self, token_hash: bytes) -> uuid.UUID | None:
        stmt = select(RefreshToken.family_id).where(
            RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_not(None)
        )
        return (await self._uow.session.execute(stmt)).scalar_one_or_none()

    async def revoke_family(self, family_id: uuid.UUID) -> None:
        await self._uow.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=func.now())
        )

    async def revoke(self, token_hash: bytes, *, user_id: uuid.UUID) -> None:
        await self._uow.session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == token_hash,
                RefreshToken.user_id == user_id,
                RefreshToken.revoked_at.is_(None),
            )
            .values(revoked_at=func.now())
        )

    async def revoke_all(self, user_id: uuid.UUID) -> None:
        await self._uow.session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=func.now())
        )


_SINCE = Sql.of(
    select(SessionRevocation.user_id, SessionRevocation.revoked_at).where(
        SessionRevocation.revoked_at > bindparam("moment", type_=SessionRevocation.revoked_at.type)
    )
)


class RevocationRepository:
    """``RevocationStore`` on Postgres."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def revoke(self, user_id: uuid.UUID) -> datetime:
        stmt = (
            insert(SessionRevocation)
            .values(user_id=user_id, revoked_at=func.clock_timestamp())
            .returning(SessionRevocation.revoked_at)
        )
        revoked_at: datetime = (await self._uow.session.execute(stmt)).scalar_one()
        return revoked_at

    async def since(self, moment: datetime) -> list[Revocation]:
        return await self._uow.queries.all_as(Revocation, _SINCE, moment=moment)
