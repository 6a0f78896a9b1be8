"""Use cases of authentication: log in, rotate a refresh token, log out."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contracts.auth import TokenPair
from contracts.rpc import Actor
from servicekit.errors import Unauthorized
from servicekit.settings import AuthSettings
from users_service.models import User
from users_service.passwords import hash_password, needs_rehash, verify_password
from users_service.repository import RefreshTokenRepository, UserRepository
from users_service.tokens import hash_refresh_token, issue_access_token, new_refresh_token

BAD_CREDENTIALS = "wrong email or password"
BAD_REFRESH = "refresh token is invalid, expired, spent or revoked"


class AuthService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: AuthSettings) -> None:
        self._sessions = sessions
        self._settings = settings

    async def _issue(
        self, session: AsyncSession, user: User, family_id: uuid.UUID | None = None
    ) -> TokenPair:
        refresh_token, token_hash = new_refresh_token()
        await RefreshTokenRepository(session).add(
            user_id=user.id,
            family_id=family_id or uuid.uuid4(),
            token_hash=token_hash,
            expires_at=datetime.now(UTC) + timedelta(seconds=self._settings.refresh_token_ttl),
        )
        return TokenPair(
            access_token=issue_access_token(self._settings, user.id, user.role),
            refresh_token=refresh_token,
            expires_in=self._settings.access_token_ttl,
        )

    async def login(self, *, email: str, password: str) -> TokenPair:
        """Exchange email and password for a token pair; soft-deleted users are refused."""
        async with self._sessions() as session:
            user = await UserRepository(session).get_by_email(email.strip())
        live = user is not None and user.deleted_at is None
        valid = await verify_password(user.password_hash if live and user else None, password)
        if not (live and valid and user):
            raise Unauthorized(BAD_CREDENTIALS)
        async with self._sessions.begin() as session:
            if needs_rehash(user.password_hash):
                fresh = await UserRepository(session).get(user.id, for_update=True)
                if fresh is not None:
                    fresh.password_hash = await hash_password(password)
            return await self._issue(session, user)

    async def refresh(self, *, refresh_token: str) -> TokenPair:
        """Spend a refresh token for a new pair; reusing a spent one revokes its whole family."""
        token_hash = hash_refresh_token(refresh_token)
        async with self._sessions.begin() as session:
            tokens = RefreshTokenRepository(session)
            spent = await tokens.spend(token_hash)
            if spent is not None:
                user_id, family_id = spent
                user = await UserRepository(session).get(user_id)
                if user is not None and user.deleted_at is None:
                    return await self._issue(session, user, family_id)
            else:
                # A spent token presented again was stolen or replayed: end the whole session.
                family = await tokens.family_of_spent(token_hash)
                if family is not None:
                    await tokens.revoke_family(family)
        raise Unauthorized(BAD_REFRESH)

    async def logout(self, *, actor: Actor, refresh_token: str) -> None:
        """Revoke the caller's refresh token (idempotent)."""
        async with self._sessions.begin() as session:
            await RefreshTokenRepository(session).revoke(
                hash_refresh_token(refresh_token), user_id=actor.id
            )
