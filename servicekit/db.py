"""The database of a service: its engine, its sessions, its fast reads, and how outages are
recognised."""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

import asyncpg
from pydantic import BaseModel
from sqlalchemy import MetaData, event, func
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.util.concurrency import greenlet_spawn

from servicekit.metrics import DB_STATEMENTS, DB_TRANSACTIONS
from servicekit.settings import PlanCacheMode

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


def make_engine(
    url: str, *, pool_size: int, application_name: str, plan_cache_mode: PlanCacheMode = "auto"
) -> AsyncEngine:
    """An asyncpg engine that fails fast when Postgres is away (3 s to connect, 10 s a query).

    No overflow: a connection opened for a burst and closed after it costs Postgres a process
    and the service a TLS attempt and a login, far more than the statements it ran. Past
    ``pool_size`` at once, callers queue for a pooled connection (up to 5 s)."""
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=5,
        pool_recycle=1800,
        connect_args={
            "timeout": 3,
            "command_timeout": 10,
            "server_settings": {
                "application_name": application_name,
                "plan_cache_mode": plan_cache_mode,
            },
        },
    )
    count_statements(engine)
    return engine


class _Now:
    def __repr__(self) -> str:
        return "NOW"


NOW: Any = _Now()
"""A column's new value that is the time of the transaction that writes it: a use case says
``{"resolved_at": NOW}``, a SQL repository writes ``now()`` (``now_as_sql``), a fake its clock."""


def now_as_sql(value: Any) -> Any:
    """``value``, with ``NOW`` as SQL's ``now()``."""
    return func.now() if value is NOW else value


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


ModelT = TypeVar("ModelT", bound=BaseModel)
_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Sql:
    """A Core statement compiled once for asyncpg: ``$n`` placeholders and their names.

    Build the hot reads at import time with ``bindparam`` for what varies; a filtered list's
    statement may be compiled per call (it costs less than Postgres planning it)."""

    text: str
    names: tuple[str, ...]
    fixed: Mapping[str, Any]

    @classmethod
    def of(cls, statement: ClauseElement) -> "Sql":
        compiled = statement.compile(dialect=_DIALECT)
        assert isinstance(compiled, SQLCompiler)
        fixed = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if not bind.required  # a bindparam() without a value is given at each call
        }
        return cls(str(compiled), tuple(compiled.positiontup or ()), fixed)

    def args(self, values: Mapping[str, Any]) -> list[Any]:
        merged = {**self.fixed, **values}
        return [_plain(merged[name]) for name in self.names]


def _plain(value: Any) -> Any:
    """Our enums are stored by value; asyncpg wants the value itself."""
    return value.value if isinstance(value, Enum) else value


class Queries:
    """Single statements on the engine's own asyncpg connections: no ORM and no transaction
    block (a lone statement is atomic and sees one snapshot), so one round trip to Postgres.

    For the hot paths: a read through an ORM session costs a BEGIN and a ROLLBACK around the
    query and the ORM's own work, several times the statement's; a write of a row and its
    outbox event can be one statement with a data-modifying CTE. Other writes stay on sessions,
    where the unit of work earns its keep."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        raw = await self._engine.raw_connection()
        try:
            yield raw.driver_connection
        except BaseException as exc:
            # Postgres refused the statement: the connection is fine. Anything else (an outage,
            # a cancelled query) may have left it mid-protocol: the pool must not reuse it.
            if not isinstance(exc, asyncpg.PostgresError):
                await greenlet_spawn(raw.invalidate, exc if isinstance(exc, Exception) else None)
            raise
        finally:
            # Through the greenlet bridge, as the engine does: giving back a connection may
            # close it (beyond the pool's size, or invalidated), and closing awaits asyncpg.
            await greenlet_spawn(raw.close)

    async def one(self, statement: Sql | ClauseElement, /, **values: Any) -> asyncpg.Record | None:
        sql = _compiled(statement)
        async with self._connection() as connection:
            return await connection.fetchrow(sql.text, *sql.args(values))

    async def all(self, statement: Sql | ClauseElement, /, **values: Any) -> list[asyncpg.Record]:
        sql = _compiled(statement)
        async with self._connection() as connection:
            return list(await connection.fetch(sql.text, *sql.args(values)))

    async def scalar(self, statement: Sql | ClauseElement, /, **values: Any) -> Any:
        sql = _compiled(statement)
        async with self._connection() as connection:
            return await connection.fetchval(sql.text, *sql.args(values))

    async def one_as(
        self, model: type[ModelT], statement: Sql | ClauseElement, /, **values: Any
    ) -> ModelT | None:
        """The row, as ``model`` (its fields are the statement's columns), or None. (``model``
        and ``statement`` are positional: a parameter of the statement may be named ``model``.)"""
        row = await self.one(statement, **values)
        return None if row is None else model.model_validate(dict(row))

    async def all_as(
        self, model: type[ModelT], statement: Sql | ClauseElement, /, **values: Any
    ) -> list[ModelT]:
        """The rows, each as ``model``."""
        return [model.model_validate(dict(row)) for row in await self.all(statement, **values)]


def _compiled(statement: Sql | ClauseElement) -> Sql:
    return statement if isinstance(statement, Sql) else Sql.of(statement)


# Counting what Postgres receives: db_statements_total and db_transactions_total.
#
# An engine's connections reach Postgres by two paths. SQLAlchemy's cursor runs prepared
# statements, which asyncpg's query loggers do not see: a cursor event counts those. All the
# rest goes through the asyncpg connection's own methods (the BEGIN, COMMIT and ROLLBACK of its
# transactions, ``fetch``/``execute`` on the driver connection, ``executemany``): a query logger
# on each new connection counts that. The outbox relay opens its own connection: not counted.

STATEMENT_KINDS = (
    "select",
    "insert",
    "update",
    "delete",
    "begin",
    "commit",
    "rollback",
    "savepoint",
    "other",
)
TRANSACTION_CONTROL = frozenset({"begin", "commit", "rollback", "savepoint"})
_STATEMENTS = {kind: DB_STATEMENTS.labels(kind) for kind in STATEMENT_KINDS}
_EXPLICIT = DB_TRANSACTIONS.labels("explicit")
_IMPLICIT = DB_TRANSACTIONS.labels("implicit")


def statement_kind(sql: str) -> str:
    """One of ``STATEMENT_KINDS``, from the statement's first keyword."""
    words = sql.lstrip(" \t\r\n(").split(None, 2)
    first = words[0].rstrip(";").lower() if words else ""
    if first in ("select", "insert", "update", "delete"):
        return first
    if first in ("begin", "start"):
        return "begin"
    if first in ("commit", "end"):
        return "commit"
    if first in ("rollback", "abort"):
        to_savepoint = len(words) > 1 and words[1].rstrip(";").lower() == "to"
        return "savepoint" if to_savepoint else "rollback"
    if first in ("savepoint", "release"):
        return "savepoint"
    return "other"


class _DriverStatements:
    """The query logger of one asyncpg connection (called in order, soon after each query)."""

    def __init__(self) -> None:
        self.in_transaction = False

    def __call__(self, record: Any) -> None:
        kind = statement_kind(record.query)
        _STATEMENTS[kind].inc()
        if kind == "begin":
            self.in_transaction = True
            _EXPLICIT.inc()
        elif kind in ("commit", "rollback"):
            self.in_transaction = False
        elif kind != "savepoint" and not self.in_transaction:
            _IMPLICIT.inc()


def _watch_driver(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.driver_connection.add_query_logger(_DriverStatements())


def _before_cursor_execute(
    _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool
) -> None:
    # asyncpg's query logger sees an executemany once; Postgres runs it once per row.
    times = len(parameters) - 1 if executemany else 1
    if times > 0:
        _STATEMENTS[statement_kind(statement)].inc(times)


def _after_cursor_execute(
    conn: Any, _cursor: Any, _statement: str, _parameters: Any, _context: Any, executemany: bool
) -> None:
    if not executemany and not conn.connection.driver_connection.is_in_transaction():
        _IMPLICIT.inc()  # autocommit: the statement was a transaction of its own


def count_statements(engine: AsyncEngine) -> None:
    """Count every statement and transaction the engine's connections send to Postgres."""
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "connect", _watch_driver)
    event.listen(sync_engine, "before_cursor_execute", _before_cursor_execute)
    event.listen(sync_engine, "after_cursor_execute", _after_cursor_execute)
