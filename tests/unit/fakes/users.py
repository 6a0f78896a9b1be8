"""The users service's unit of work in memory: users, refresh tokens and session revocations
in a ``UsersStore`` shared by every unit of work of a test, with transactions of a kind.

What the real database does and the use cases rely on, the fake does too: a unit of work
changes a copy of what is committed and its commit swaps the copy in (leaving the block without
committing forgets the changes); an email is unique whatever its case; ``updated_at``,
``used_at``, a refresh token's ``revoked_at`` and ``NOW`` are the transaction's time (one
instant per unit of work, from the store's clock), a session revocation's the moment it is made
(``clock_timestamp()``: the clock's next tick, later than the transaction's); an account is
read with its user's newest revocation; a hard delete takes the user's refresh tokens along.
Reads that are single statements on Postgres (``get``, ``page``, ``count``,
``account_by_email``, ``since``) see what is committed; the others need ``async with uow:``, as
a session does. Search by ``q`` is a plain case-insensitive substring of the email or the name.
"""

import copy
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Self

from argon2 import PasswordHasher

from contracts.auth import Revocation
from contracts.base import Event
from contracts.enums import Role
from contracts.users import UserPublic
from servicekit.db import NOW
from servicekit.pagination import Key
from servicekit.testing import FakeUnitOfWork
from users_service.auth.passwords import Passwords
from users_service.auth.repository import Spent
from users_service.settings import UsersSettings
from users_service.uow import UsersUnitOfWork
from users_service.users.repository import Account, EmailTaken, UserFilter


def cheap_passwords(concurrency: int = 2, *, time_cost: int = 1) -> Passwords:
    """argon2id with the least work it allows: the same rules, microseconds a hash. (Make one
    per test: its semaphore belongs to the event loop that first waits on it.)"""
    return Passwords(concurrency, PasswordHasher(time_cost=time_cost, memory_cost=8, parallelism=1))


class Clock:
    """The store's time: it starts now and moves a millisecond per transaction, or as told."""

    def __init__(self) -> None:
        self._at = datetime.now(UTC)

    def tick(self) -> datetime:
        self._at += timedelta(milliseconds=1)
        return self._at

    def advance(self, seconds: float) -> None:
        self._at += timedelta(seconds=seconds)


@dataclass
class UserRow:
    id: uuid.UUID
    email: str
    full_name: str
    role: Role
    password_hash: str
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None

    def public(self) -> UserPublic:
        return UserPublic(
            id=self.id,
            email=self.email,
            full_name=self.full_name,
            role=self.role,
            created_at=self.created_at,
            updated_at=self.updated_at,
            deleted_at=self.deleted_at,
        )

    def account(self, state: "State") -> Account:
        """The account as ``state`` holds it, with its newest revocation there."""
        last = max((r.revoked_at for r in state.revocations if r.user_id == self.id), default=None)
        return Account(self.id, self.role, self.password_hash, self.deleted_at, last)


@dataclass
class TokenRow:
    user_id: uuid.UUID
    family_id: uuid.UUID
    token_hash: bytes
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass
class State:
    """What the database holds."""

    users: dict[uuid.UUID, UserRow] = field(default_factory=dict)
    tokens: dict[bytes, TokenRow] = field(default_factory=dict)
    revocations: list[Revocation] = field(default_factory=list)


@dataclass
class UsersStore:
    """The committed state and the published events of a test, shared by its units of work."""

    state: State = field(default_factory=State)
    published: list[Event] = field(default_factory=list)
    clock: Clock = field(default_factory=Clock)
    transactions: int = 0
    """Units of work that entered their block."""


class FakeUserStore:
    """``UserStore`` in memory."""

    def __init__(self, uow: "FakeUsersUnitOfWork") -> None:
        self._uow = uow

    async def get(self, user_id: uuid.UUID) -> UserPublic | None:
        row = self._uow.committed.users.get(user_id)
        return None if row is None else row.public()

    async def page(self, flt: UserFilter, *, after: Key | None, limit: int) -> list[UserPublic]:
        rows = sorted(self._matching(flt), key=lambda row: (row.created_at, row.id), reverse=True)
        if after is not None:
            rows = [row for row in rows if (row.created_at, row.id) < after]
        return [row.public() for row in rows[: limit + 1]]

    async def count(self, flt: UserFilter) -> int:
        return len(self._matching(flt))

    def _matching(self, flt: UserFilter) -> list[UserRow]:
        q = (flt.q or "").lower()
        return [
            row
            for row in self._uow.committed.users.values()
            if (flt.include_deleted or row.deleted_at is None)
            and (flt.role is None or row.role == flt.role)
            and (q in row.email.lower() or q in row.full_name.lower())
        ]

    async def account_by_email(self, email: str) -> Account | None:
        committed = self._uow.committed
        row = _by_email(committed, email)
        return None if row is None else row.account(committed)

    async def account(self, user_id: uuid.UUID) -> Account | None:
        state = self._uow.state
        row = state.users.get(user_id)
        return None if row is None else row.account(state)

    async def add(
        self, *, email: str, full_name: str, role: Role, password_hash: str
    ) -> UserPublic:
        state, now = self._uow.state, self._uow.now
        if _by_email(state, email) is not None:
            raise EmailTaken
        row = UserRow(uuid.uuid4(), email, full_name, role, password_hash, now, now)
        state.users[row.id] = row
        return row.public()

    async def lock(self, user_id: uuid.UUID) -> UserPublic | None:
        row = self._uow.state.users.get(user_id)
        return None if row is None else row.public()

    async def change(self, user_id: uuid.UUID, values: dict[str, Any]) -> UserPublic:
        state, now = self._uow.state, self._uow.now
        row = state.users[user_id]
        email = values.get("email")
        holder = None if email is None else _by_email(state, email)
        if holder is not None and holder is not row:
            raise EmailTaken
        for name, value in values.items():
            assert hasattr(row, name) and name not in ("id", "created_at", "updated_at"), name
            setattr(row, name, now if value is NOW else value)
        row.updated_at = now
        return row.public()

    async def rehash(self, user_id: uuid.UUID, *, old: str, new: str) -> None:
        row = self._uow.state.users.get(user_id)
        if row is not None and row.password_hash == old:
            row.password_hash = new
            row.updated_at = self._uow.now

    async def delete(self, user_id: uuid.UUID) -> None:
        state = self._uow.state
        state.users.pop(user_id, None)
        state.tokens = {h: t for h, t in state.tokens.items() if t.user_id != user_id}


def _by_email(state: State, email: str) -> UserRow | None:
    return next((u for u in state.users.values() if u.email.lower() == email.lower()), None)


class FakeRefreshTokenStore:
    """``RefreshTokenStore`` in memory."""

    def __init__(self, uow: "FakeUsersUnitOfWork") -> None:
        self._uow = uow

    async def add(
        self, *, user_id: uuid.UUID, family_id: uuid.UUID, token_hash: bytes, expires_at: datetime
    ) -> None:
        state = self._uow.state
        assert user_id in state.users, "refresh_tokens.user_id references users.id"
        assert token_hash not in state.tokens, "token_hash is unique"
        state.tokens[token_hash] = TokenRow(
            user_id, family_id, token_hash, self._uow.now, expires_at
        )

    async def spend(self, token_hash: bytes) -> Spent | None:
        now = self._uow.now
        token = self._uow.state.tokens.get(token_hash)
        if token is None or token.used_at or token.revoked_at or token.expires_at <= now:
            return None
        token.used_at = now
        return Spent(token.user_id, token.family_id)

    async def family_of_spent(self, token_hash: bytes) -> uuid.UUID | None:
        token = self._uow.state.tokens.get(token_hash)
        return token.family_id if token is not None and token.used_at is not None else None

    async def revoke_family(self, family_id: uuid.UUID) -> None:
        self._revoke(lambda token: token.family_id == family_id)

    async def revoke(self, token_hash: bytes, *, user_id: uuid.UUID) -> None:
        self._revoke(lambda token: token.token_hash == token_hash and token.user_id == user_id)

    async def revoke_all(self, user_id: uuid.UUID) -> None:
        self._revoke(lambda token: token.user_id == user_id)

    def _revoke(self, which: Any) -> None:
        for token in self._uow.state.tokens.values():
            if token.revoked_at is None and which(token):
                token.revoked_at = self._uow.now


class FakeRevocationStore:
    """``RevocationStore`` in memory."""

    def __init__(self, uow: "FakeUsersUnitOfWork") -> None:
        self._uow = uow

    async def revoke(self, user_id: uuid.UUID) -> datetime:
        revoked_at = self._uow.store.clock.tick()  # the insert's moment, after the transaction's
        self._uow.state.revocations.append(Revocation(user_id=user_id, revoked_at=revoked_at))
        return revoked_at

    async def since(self, moment: datetime) -> list[Revocation]:
        return [r for r in self._uow.committed.revocations if r.revoked_at > moment]


class FakeUsersUnitOfWork(FakeUnitOfWork, UsersUnitOfWork):
    """A users unit of work on a ``UsersStore``: its block works on a copy of the committed
    state, its commit makes the copy the committed state and publishes its events."""

    def __init__(self, store: UsersStore, settings: UsersSettings, passwords: Passwords) -> None:
        super().__init__(store.published)
        self.store = store
        self.settings = settings
        self.passwords = passwords
        self.users = FakeUserStore(self)
        self.refresh_tokens = FakeRefreshTokenStore(self)
        self.revocations = FakeRevocationStore(self)
        self._working: State | None = None
        self._now: datetime | None = None

    @property
    def committed(self) -> State:
        """What single statements outside a transaction see."""
        return self.store.state

    @property
    def state(self) -> State:
        """What the transaction sees and changes."""
        if self._working is None:
            raise RuntimeError("the session is used inside `async with uow:` only")
        return self._working

    @property
    def now(self) -> datetime:
        """The transaction's time (Postgres' ``now()``)."""
        if self._now is None:
            raise RuntimeError("the transaction's time is known inside `async with uow:` only")
        return self._now

    async def __aenter__(self) -> Self:
        self._working = copy.deepcopy(self.store.state)
        self._now = self.store.clock.tick()
        self.store.transactions += 1
        return self

    async def commit(self) -> None:
        self.store.state = self.state
        self._working = None
        await super().commit()

    async def rollback(self) -> None:
        self._working = None
        await super().rollback()
