"""Transactional outbox: an event is a row written in the same transaction as the change it
reports, and a relay publishes the rows afterwards. A crash or a broker outage between the two
loses nothing; the row id becomes the event id (and AMQP message id), so consumers dedupe.

The relay runs in the process that writes the rows, and the unit of work that commits them
wakes it at once (``OutboxRelay.wake``, see ``servicekit.uow``). Rows it was not woken for
(another replica's, or left by a process that died) are found by its poll. It is not woken by
Postgres' LISTEN/NOTIFY: that costs a trigger and a notification per statement, and Postgres
signals every listening backend of the database on every one. How an event becomes a row is
``servicekit.event_rows``.

We write this by hand rather than use ``faststream-outbox``: that package is built around a
FastStream broker, and our services speak aio-pika directly (see ``rpc_server``).
"""

import asyncio
import contextlib
import datetime as dt
import logging

import aio_pika
import asyncpg
import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from contracts.events import CONTENT_TYPE, SPEC_VERSION
from contracts.names import routing_key
from servicekit.bus import PERSISTENT, Properties, Publisher
from servicekit.metrics import OUTBOX_LAG, OUTBOX_PUBLISHED
from servicekit.tracing import TRACEPARENT, TRACESTATE

log = logging.getLogger(__name__)
BATCH = 200
BATCH_DEADLINE = 30.0
"""Seconds a drain may take before the relay gives up on its connections and starts over."""


def outbox_table(metadata: MetaData) -> Table:
    """The outbox of the service whose metadata this is (same schema)."""
    return Table(
        "outbox",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("type", Text, nullable=False),
        Column("subject", Text, nullable=True),
        Column("data", JSONB, nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("seq", BigInteger, Identity(always=True), nullable=False),
        # The trace context the event was recorded in: it travels with the event, so the work
        # the event causes joins the trace of the request that caused it.
        Column("traceparent", Text, nullable=True),
        Column("tracestate", Text, nullable=True),
        Index("ix_outbox_seq", "seq"),
    )


def notify_trigger_ddl(schema: str) -> list[str]:
    """DDL that woke the relay (``NOTIFY <schema>_outbox``) when rows were committed, as the
    first migrations made it (a later one drops it: ``committed()`` wakes the relay now)."""
    return [
        f"""CREATE OR REPLACE FUNCTION {schema}.outbox_notify() RETURNS trigger
            LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('{schema}_outbox', '');
            RETURN NULL; END $$""",
        f"""CREATE TRIGGER outbox_notify AFTER INSERT ON {schema}.outbox
            FOR EACH STATEMENT EXECUTE FUNCTION {schema}.outbox_notify()""",
    ]


def encode_cloudevent(row: asyncpg.Record, source: str) -> bytes:
    """A CloudEvents 1.0 structured-mode body from an outbox row (``data`` kept as stored),
    with the distributed-tracing extension's ``traceparent`` and ``tracestate`` if recorded."""
    occurred: dt.datetime = row["occurred_at"]
    event = {
        "specversion": SPEC_VERSION,
        "id": str(row["id"]),
        "source": source,
        "type": row["type"],
        "subject": row["subject"],
        "time": occurred.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": orjson.Fragment(row["data"]),
    }
    for attribute in (TRACEPARENT, TRACESTATE):
        if row[attribute] is not None:
            event[attribute] = row[attribute]
    return orjson.dumps(event)


class OutboxRelay:
    """Publishes committed outbox rows, woken by ``wake()``, polling as the fallback."""

    def __init__(
        self, dsn: str, schema: str, events: Publisher, *, source: str, poll: float
    ) -> None:
        """``events``: the events exchange, on a channel with publisher confirms."""
        self._dsn, self._schema, self._events = dsn, schema, events
        self._source, self._poll = source, poll
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Events were committed in this process: publish them now rather than at the poll."""
        self._wake.set()

    async def run(self) -> None:
        """Relay until cancelled, reconnecting to Postgres and retrying the broker as needed."""
        delay = 0.5
        while True:
            try:
                connection = await asyncpg.connect(
                    self._dsn,
                    timeout=3,
                    server_settings={
                        "application_name": f"{self._schema}-outbox-relay",
                        # Deleting published rows need not wait for the disk: if a crash loses
                        # the delete, the rows come back and are published again, which at
                        # least once delivery allows (consumers dedupe on the event id).
                        "synchronous_commit": "off",
                    },
                )
            except Exception as exc:
                log.warning("outbox relay: database unreachable (%s)", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
                continue
            try:
                delay = 0.5
                await self._relay(connection)
            except Exception as exc:  # asyncpg raises more kinds than it documents mid-restart
                log.warning("outbox relay: database connection lost (%r), reconnecting", exc)
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(connection.close(timeout=2))

    async def _relay(self, connection: asyncpg.Connection) -> None:
        while True:
            self._wake.clear()
            try:
                # A watchdog: a publish or query that hangs across an outage becomes an error
                # (and a fresh connection) instead of a relay that is silently stuck for good.
                async with asyncio.timeout(BATCH_DEADLINE):
                    while await self.drain_batch(connection) == BATCH:
                        pass
            except aio_pika.exceptions.AMQPError as exc:
                log.warning("outbox relay: broker unavailable (%s), will retry", exc)
            except (ConnectionError, RuntimeError) as exc:
                log.warning("outbox relay: broker unavailable (%s), will retry", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)

    async def drain_batch(self, connection: asyncpg.Connection) -> int:
        """Take the oldest rows no other relay holds, publish them with confirms, and commit
        their deletion; a failure rolls it back, and the rows stay for the next try."""
        async with connection.transaction():
            taken = await connection.fetch(
                f"DELETE FROM {self._schema}.outbox WHERE id IN"
                f" (SELECT id FROM {self._schema}.outbox ORDER BY seq"
                f"  LIMIT {BATCH} FOR UPDATE SKIP LOCKED)"
                f" RETURNING seq, id, type, subject, data::text AS data, occurred_at,"
                f" traceparent, tracestate"
            )
            if not taken:
                return 0
            rows = sorted(taken, key=lambda row: row["seq"])  # in the order they were written
            await asyncio.gather(*(self._publish(row) for row in rows))
        OUTBOX_PUBLISHED.labels(self._schema).inc(len(rows))
        now = dt.datetime.now(dt.UTC)
        lag = OUTBOX_LAG.labels(self._schema)
        for row in rows:
            lag.observe((now - row["occurred_at"]).total_seconds())
        return len(rows)

    async def _publish(self, row: asyncpg.Record) -> None:
        # The trace context also as AMQP headers, where AMQP-level tooling looks for it.
        headers = {name: row[name] for name in (TRACEPARENT, TRACESTATE) if row[name] is not None}
        properties = Properties(
            content_type=CONTENT_TYPE,
            delivery_mode=PERSISTENT,
            message_id=str(row["id"]),
            message_type=row["type"],
            timestamp=row["occurred_at"],
            headers=headers or None,
        )
        await self._events.publish(
            encode_cloudevent(row, self._source),
            routing_key=routing_key(row["type"]),
            properties=properties,
            timeout=10,
        )
