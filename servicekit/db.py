"""The database of a service: its engine, its sessions, and how outages are recognised."""

import asyncpg
from sqlalchemy import MetaData
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

# Stable constraint names, so migrations name the same thing the same way every time.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def schema_metadata(schema: str) -> MetaData:
    """Metadata whose tables all live in the service's own schema."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def make_engine(url: str, *, pool_size: int, application_name: str) -> AsyncEngine:
    """An asyncpg engine that fails fast when Postgres is away (3 s to connect, 10 s a query)."""
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=5,
        pool_recycle=1800,
        connect_args={
            "timeout": 3,
            "command_timeout": 10,
            "server_settings": {"application_name": application_name},
        },
    )


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def asyncpg_dsn(url: str) -> str:
    """The plain libpq URL for asyncpg, from SQLAlchemy's ``postgresql+asyncpg://`` form."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


_OUTAGE = (
    OSError,
    TimeoutError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
)


def is_database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means Postgres cannot be reached now, not that a query was wrong."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, _OUTAGE):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
