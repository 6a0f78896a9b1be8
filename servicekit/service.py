"""The life of a service process: connect, serve, stop cleanly on SIGTERM.

Every service's bootstrap builds a ``ServiceRuntime``, serves its use cases with a unit of work
per request, consumes the events it reacts to, relays its outbox, then waits for a signal. On
SIGTERM it stops taking new work, lets the work in flight finish, and closes its connections:
nothing is lost, the broker redelivers what was not acknowledged.
"""

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine, Sequence
from types import TracebackType
from typing import Any, Self

import uvloop
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.events import CloudEvent
from contracts.names import EVENTS_EXCHANGE, ping_queue, routing_key
from contracts.rpc import Ping, Pong
from servicekit import bus, heap, metrics
from servicekit.bus import Publisher, connect, declare_exchanges
from servicekit.consumer import Delivery, EventHandler, consume_events
from servicekit.db import asyncpg_dsn, make_engine, make_sessions
from servicekit.logs import configure_logging
from servicekit.outbox import OutboxRelay
from servicekit.rpc_server import RpcServer, UnitsOfWork
from servicekit.settings import ServiceSettings
from servicekit.tracing import OFF, Tracing, configure_tracing
from servicekit.uow import Database
from servicekit.usecases import UseCases

log = logging.getLogger(__name__)


class ServiceRuntime:
    """Connections and background work of one service process."""

    def __init__(
        self, name: str, settings: ServiceSettings, *, outbox: Table | None = None
    ) -> None:
        """``outbox``: the service's outbox table, if it has a database (its schema's)."""
        self.name, self.settings, self._outbox = name, settings, outbox
        self.engine: AsyncEngine | None = None
        self._database: Database | None = None
        self._relay: OutboxRelay | None = None
        self._connection: AbstractRobustConnection | None = None
        self._servers: list[RpcServer] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self._consumed: list[str] = []
        self._exit_code = 0
        self.spans: Tracing = OFF
        """This process's spans (on if the environment asks, see ``servicekit.tracing``)."""
        self.publish_channel: AbstractRobustChannel | None = None

    @property
    def database(self) -> Database:
        """The service's database, its units of work wake the relay of this process."""
        assert self._database is not None, "this service has no database"
        return self._database

    async def __aenter__(self) -> Self:
        configure_logging(self.settings.log_level, json=self.settings.log_json)
        self.spans = configure_tracing(self.name)
        metrics.serve(self.settings.metrics_port)
        bus.configure(shortcuts=self.settings.amqp_shortcuts)
        self._connection = await connect(self.settings.amqp_url, name=self.name)
        self.publish_channel = await self._connection.channel(publisher_confirms=True)
        await declare_exchanges(self.publish_channel)
        if self._outbox is not None:
            self.engine = make_engine(
                self.settings.database_url,
                pool_size=self.settings.db_pool_size,
                application_name=self.name,
                plan_cache_mode=self.settings.db_plan_cache_mode,
            )
            assert self._outbox.schema is not None
            self._relay = OutboxRelay(
                asyncpg_dsn(self.settings.database_url),
                self._outbox.schema,
                Publisher(self.publish_channel, EVENTS_EXCHANGE),
                source=f"/{self.name}",
                poll=self.settings.outbox_poll_seconds,
            )
            self._database = Database(
                self.engine, make_sessions(self.engine), self._outbox, self._relay.wake
            )
        return self

    async def serve(self, use_cases: UseCases[Any], units_of_work: UnitsOfWork) -> None:
        """Answer the use cases' commands, up to ``RPC_PREFETCH`` at a time, each in a unit of
        work of its own."""
        assert self._connection is not None
        channel = await self._connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=self.settings.rpc_prefetch)
        server = RpcServer(
            channel,
            use_cases,
            units_of_work,
            access_log=self.settings.access_log,
            spans=self.spans,
        )
        await server.start()
        self._servers.append(server)
        self._consumed.extend(use_cases.routes)

    async def react(self, queue: str, use_cases: UseCases[Any], units_of_work: UnitsOfWork) -> None:
        """Consume, from this service's own durable ``queue``, the events the use cases react
        to, each handled in a unit of work of its own."""
        subscriptions = use_cases.subscriptions

        async def handle(event: CloudEvent, _: Delivery) -> None:
            subscription = subscriptions[event.type]
            await subscription.handler(
                subscription.event.model_validate(event.data), units_of_work()
            )

        await self.consume(queue, [routing_key(t) for t in subscriptions], handle)

    async def channel(self) -> AbstractRobustChannel:
        """A channel of this process's connection, without publisher confirms."""
        assert self._connection is not None
        return await self._connection.channel(publisher_confirms=False)

    async def consume(self, queue: str, routing_keys: Sequence[str], handler: EventHandler) -> None:
        """Consume events from this service's own durable queue."""
        assert self._connection is not None
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self.settings.event_prefetch)
        await consume_events(
            channel,
            queue,
            routing_keys,
            handler,
            delivery_limit=self.settings.event_delivery_limit,
            access_log=self.settings.access_log,
            spans=self.spans,
        )
        self._consumed.append(queue)

    def relay_outbox(self) -> None:
        """Start publishing this service's outbox to ``support.events`` in the background."""
        assert self._relay is not None, "this service has no outbox"
        self.background(self._relay.run())

    async def _sample_queue_depths(self, every: float = 15.0) -> None:
        """Now and then, how many messages wait in each queue this process consumes."""
        assert self._connection is not None
        channel = await self._connection.channel(publisher_confirms=False)
        while True:
            for queue in self._consumed:
                try:
                    underlay = await channel.get_underlay_channel()
                    declared = await underlay.queue_declare(queue, passive=True)
                    metrics.QUEUE_DEPTH.labels(queue).set(declared.message_count or 0)
                except Exception as exc:  # a metric is not worth failing over
                    log.debug("depth of %s unknown: %s", queue, exc)
            await asyncio.sleep(every)

    def background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` alongside; if it ever ends by itself, stop the process so that the
        supervisor starts a whole new one (a service half alive is worse than a restart)."""
        task = asyncio.create_task(work)
        task.add_done_callback(self._background_ended)
        self._tasks.append(task)

    def _background_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stop.is_set():
            return
        log.critical("background work %s ended: %r; stopping", task.get_coro(), task.exception())
        self._exit_code = 1
        self._stop.set()

    async def wait_for_shutdown(self) -> None:
        """Answer pings (the service is ready: everything is served), then wait for a signal.

        Pings come last on purpose: a ping answered before the command queues exist would let
        the gateway report ready while requests still fall on the floor.
        """
        ping: UseCases[ServiceRuntime] = UseCases()
        ping.serve(ping_queue(self.name), Ping, _answer_ping)
        await self.serve(ping, lambda: self)
        if self.settings.metrics_port:
            self.background(self._sample_queue_depths())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        heap.settle()
        log.info("%s ready", self.name)
        await self._stop.wait()
        log.info("%s stopping", self.name)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Each step is bounded: a broker or database that stops answering mid-shutdown must not
        # keep the process alive for good (the supervisor would never start a new one).
        for server in self._servers:
            await _bounded(server.stop(), 15.0, "stopping the command consumers")
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await _bounded(_settled(self._tasks), 5.0, "ending the background work")
        if self._connection is not None:
            await _bounded(self._connection.close(), 5.0, "closing the broker connection")
        if self.engine is not None:
            await _bounded(self.engine.dispose(), 5.0, "closing the database pool")
        log.info("%s stopped", self.name)
        if self._exit_code:
            raise SystemExit(self._exit_code)  # the supervisor sees a failure and restarts it


async def _bounded(work: Coroutine[Any, Any, Any], seconds: float, what: str) -> None:
    """Do one step of a shutdown, giving up on it (with a warning) after ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            await work
    except TimeoutError:
        log.warning("shutdown: %s took over %gs, going on without it", what, seconds)
    except Exception as exc:
        log.warning("shutdown: %s failed: %r", what, exc)


async def _settled(tasks: Sequence[asyncio.Task[None]]) -> None:
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def _answer_ping(command: Ping, runtime: ServiceRuntime) -> Pong:
    """Answer a health ping: this process is consuming, and its database answers."""
    database = True
    if runtime.engine is not None:
        try:
            async with asyncio.timeout(0.8), runtime.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            database = False
    return Pong(service=runtime.name, database=database)


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run a service's main coroutine on uvloop."""
    uvloop.run(main)
