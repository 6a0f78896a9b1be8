"""The unit of work of one request: its transaction, its fast reads, and the events it records.

A use case reads through the unit of work's repositories (single statements, no transaction)
and changes things inside ``async with uow:``, ending with ``await uow.commit()``; leaving the
block without committing rolls back. Events are recorded with ``uow.events.add(TicketCreated(...))``
and written to the outbox in the same transaction at commit; the commit then wakes the outbox
relay of this process, so they leave at once.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from contracts.base import Event
from contracts.events import EVENT_CATALOG, check_catalogued
from servicekit.db import Queries
from servicekit.event_rows import outbox_rows


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Database:
    """What a service's units of work share: its engine, sessions and outbox."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    outbox: Table
    wake_relay: Callable[[], None] = _nothing
    """Tells this process's outbox relay that events were committed."""
    queries: Queries = field(init=False)
    """The engine's single-statement reads and writes, made once for every unit of work."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "queries", Queries(self.engine))


class EventLog:
    """The events a unit of work records, checked against the catalog as they are added."""

    def __init__(self) -> None:
        self.pending: list[Event] = []

    def add(self, event: Event) -> None:
        check_catalogued(event)
        self.pending.append(event)

    def take(self) -> list[Event]:
        taken, self.pending = self.pending, []
        return taken


class UnitOfWork:
    """The base of every service's unit of work (real or fake): a block, a commit, events."""

    def __init__(self) -> None:
        self.events = EventLog()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.rollback()

    async def commit(self) -> None:
        raise NotImplementedError

    async def rollback(self) -> None:
        self.events.take()


class SqlUnitOfWork(UnitOfWork):
    """A unit of work on Postgres: a session opened by ``async with``, the engine's single
    statement reads (``queries``) outside it."""

    def __init__(self, database: Database) -> None:
        super().__init__()
        self.database = database
        self.queries = database.queries
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the session is used inside `async with uow:` only")
        return self._session

    async def __aenter__(self) -> Self:
        self._session = self.database.sessions()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.rollback()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def commit(self) -> None:
        """Write the recorded events to the outbox, commit, and wake the relay."""
        events = self.events.take()
        if events:
            await self.session.execute(self.database.outbox.insert(), outbox_rows(events))
        await self.session.commit()
        if events:
            self.database.wake_relay()

    async def rollback(self) -> None:
        self.events.take()
        if self._session is not None:
            await self._session.rollback()

    def written(self, event: type[Event]) -> None:
        """A lone statement wrote an event of type ``event`` to the outbox and committed it
        (a data-modifying CTE, see ``servicekit.outbox.sql_event``): wake the relay."""
        if event.event_type not in EVENT_CATALOG:
            raise TypeError(f"{event.__name__} is not in the event catalog")
        self.database.wake_relay()
