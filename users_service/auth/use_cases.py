"""Use cases of authentication: log in, rotate a refresh token, log out, list revocations."""

import uuid
from datetime import UTC, datetime, timedelta

from contracts.auth import ListRevocations, Login, Logout, Refresh, Revocations, TokenPair
from servicekit.errors import Unauthorized
from servicekit.usecases import UseCases
from users_service.auth.tokens import hash_refresh_token, issue_access_token, new_refresh_token
from users_service.uow import UsersUnitOfWork
from users_service.users.repository import Account

use_cases: UseCases[UsersUnitOfWork] = UseCases()
BAD_CREDENTIALS = "wrong email or password"
BAD_REFRESH = "refresh token is invalid, expired, spent or revoked"


async def _issue(
    uow: UsersUnitOfWork, account: Account, family_id: uuid.UUID | None = None
) -> TokenPair:
    """A new token pair; its refresh token joins ``family_id`` (a new family if None). Its
    access token carries the account's newest revocation as read with it (``rev``): later ones
    void it, that one does not. Inside ``async with uow:``."""
    settings = uow.settings
    refresh_token, token_hash = new_refresh_token()
    await uow.refresh_tokens.add(
        user_id=account.id,
        family_id=family_id or uuid.uuid4(),
        token_hash=token_hash,
        expires_at=datetime.now(UTC) + timedelta(seconds=settings.refresh_token_ttl),
    )
    return TokenPair(
        access_token=issue_access_token(
            settings, account.id, account.role, revoked_at=account.last_revocation
        ),
        refresh_token=refresh_token,
        expires_in=settings.access_token_ttl,
    )


@use_cases.handles
async def login(cmd: Login, uow: UsersUnitOfWork) -> TokenPair:
    """Exchange email and password for a token pair; soft-deleted users are refused. A hash
    made with older parameters is replaced by one with today's."""
    account = await uow.users.account_by_email(cmd.email.strip())
    live = account is not None and account.deleted_at is None
    valid = await uow.passwords.verify(
        account.password_hash if live and account else None, cmd.password
    )
    if not (live and valid and account):
        raise Unauthorized(BAD_CREDENTIALS)
    rehashed = None
    if uow.passwords.needs_rehash(account.password_hash):
        rehashed = await uow.passwords.hash(cmd.password)
    async with uow:
        if rehashed is not None:
            await uow.users.rehash(account.id, old=account.password_hash, new=rehashed)
        pair = await _issue(uow, account)
        await uow.commit()
    return pair


@use_cases.handles
async def refresh(cmd: Refresh, uow: UsersUnitOfWork) -> TokenPair:
    """Spend a refresh token for a new pair; reusing a spent one revokes its whole family."""
    token_hash = hash_refresh_token(cmd.refresh_token)
    pair = None
    async with uow:
        spent = await uow.refresh_tokens.spend(token_hash)
        if spent is not None:
            account = await uow.users.account(spent.user_id)
            if account is not None and account.deleted_at is None:
                pair = await _issue(uow, account, spent.family_id)
        else:
            # A spent token presented again was stolen or replayed: end the whole session.
            family = await uow.refresh_tokens.family_of_spent(token_hash)
            if family is not None:
                await uow.refresh_tokens.revoke_family(family)
        await uow.commit()  # a token spent by a deleted user stays spent
    if pair is None:
        raise Unauthorized(BAD_REFRESH)
    return pair


@use_cases.handles
async def logout(cmd: Logout, uow: UsersUnitOfWork) -> None:
    """Revoke the caller's refresh token (idempotent)."""
    async with uow:
        await uow.refresh_tokens.revoke(hash_refresh_token(cmd.refresh_token), user_id=cmd.actor.id)
        await uow.commit()


@use_cases.handles
async def revocations_since(cmd: ListRevocations, uow: UsersUnitOfWork) -> Revocations:
    """Sessions revoked after ``since``: what a starting gateway must know."""
    return Revocations(items=await uow.revocations.since(cmd.since))
