"""The unit of work of a users service request: its users, refresh tokens and session
revocations, the service's settings (token lifetimes and keys) and its password hashing."""

from servicekit.uow import Database, SqlUnitOfWork, UnitOfWork
from users_service.auth.passwords import Passwords
from users_service.auth.repository import (
    RefreshTokenRepository,
    RefreshTokenStore,
    RevocationRepository,
    RevocationStore,
)
from users_service.settings import UsersSettings
from users_service.users.repository import UserRepository, UserStore


class UsersUnitOfWork(UnitOfWork):
    """What the users and auth use cases work with (on Postgres, or faked in unit tests)."""

    users: UserStore
    refresh_tokens: RefreshTokenStore
    revocations: RevocationStore
    settings: UsersSettings
    passwords: Passwords
    """The process's hashing: one for every unit of work, it bounds how many hashes run."""


class SqlUsersUnitOfWork(SqlUnitOfWork, UsersUnitOfWork):
    def __init__(self, database: Database, settings: UsersSettings, passwords: Passwords) -> None:
        super().__init__(database)
        self.users = UserRepository(self)
        self.refresh_tokens = RefreshTokenRepository(self)
        self.revocations = RevocationRepository(self)
        self.settings = settings
        self.passwords = passwords
