"""Transactional outbox: an event is a row written in the same transaction as the change it
reports, and a relay publishes the rows afterwards. A crash or a broker outage between the two
loses nothing; the row id becomes the event id (and AMQP message id), so consumers dedupe.

The relay runs in the process that writes the rows, and the unit of work that commits them
wakes it at once (``OutboxRelay.wake``, see ``servicekit.uow``). Rows it was not woken for
(another replica's, or left by a process that died) are found by its poll. It is not woken by
Postgres' LISTEN/NOTIFY: that costs a trigger and a notification per statement, and Postgres
signals every listening backend of the database on every one.

We write this by hand rather than use ``faststream-outbox``: that package is built around a
FastStream broker, and our services speak aio-pika directly (see ``rpc_server``).
"""

import asyncio
import contextlib
import datetime as dt
import logging
import types
import typing
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import aio_pika
import asyncpg
import orjson
from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    DateTime,
    FromClause,
    Identity,
    Index,
    Insert,
    MetaData,
    Select,
    Table,
    Text,
    Uuid,
    bindparam,
    cast,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by
from sqlalchemy.sql.elements import BindParameter

from contracts.base import Event
from contracts.events import CONTENT_TYPE, EVENT_CATALOG, SPEC_VERSION
from contracts.names import routing_key
from servicekit import tracing
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


TRACE_COLUMNS: Final = (TRACEPARENT, TRACESTATE)
"""The outbox columns of the trace context an event is recorded in."""


def trace_binds() -> tuple[BindParameter[str], BindParameter[str]]:
    """Parameters for ``TRACE_COLUMNS`` in an ``INSERT INTO outbox ... SELECT`` compiled once;
    give them ``trace_values()`` at each execution."""
    return bindparam(TRACEPARENT, type_=Text), bindparam(TRACESTATE, type_=Text)


def trace_values() -> dict[str, str | None]:
    """The current trace context, as the values of ``TRACE_COLUMNS``."""
    traceparent, tracestate = tracing.current_headers()
    return {TRACEPARENT: traceparent, TRACESTATE: tracestate}


def outbox_rows(events: Sequence[Event]) -> list[dict[str, Any]]:
    """The outbox rows of ``events``, each with a new id and the current trace context."""
    trace = trace_values()
    return [
        {
            "id": uuid.uuid4(),
            "type": event.event_type,
            "subject": event.event_subject(),
            "data": event.model_dump(mode="json", by_alias=True),
            **trace,
        }
        for event in events
    ]


# Events written by SQL. On a hot path, one statement changes a row and writes the event of the
# change: a data-modifying CTE, whose outbox row is built from what the CTE returned. The
# event's JSON is then built by Postgres, not by pydantic, so it is built here from the event's
# model, field by field: the SQL cannot drift from the model that defines the event.


@dataclass(frozen=True)
class SqlJson:
    """The JSON of ``model`` built in SQL (a list of them if ``many``)."""

    model: type[BaseModel]
    expression: ColumnElement[Any]
    many: bool = False


Source = ColumnElement[Any] | FromClause | SqlJson
"""Where a field's value comes from: a column (or any SQL expression, functions included,
though SQLAlchemy also takes those for tables), a table or CTE whose columns are the fields of
the field's model, or that model's JSON built by ``sql_payload`` or ``sql_list``."""


def _models_of(annotation: Any) -> tuple[type[BaseModel] | None, type[BaseModel] | None]:
    """The model a field's type is (``X`` or ``X | None``), and the model of its items if it
    is a list of models (``list[X]``)."""
    options = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        present = [option for option in options if option is not type(None)]
        return _models_of(present[0]) if len(present) == 1 else (None, None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, None
    if typing.get_origin(annotation) is list and options:
        item = options[0]
        if isinstance(item, type) and issubclass(item, BaseModel):
            return None, item
    return None, None


def _field_sql(
    model: type[BaseModel], name: str, annotation: Any, source: Source | None
) -> ColumnElement[Any]:
    where = f"{model.__name__}.{name}"
    if source is None:
        raise TypeError(f"{where} has no source column")
    one, many = _models_of(annotation)
    if isinstance(source, SqlJson):
        expected = many if source.many else one
        if source.model is not expected:
            kind = f"a list of {source.model.__name__}" if source.many else source.model.__name__
            raise TypeError(f"{where} is not {kind}")
        return source.expression
    if isinstance(source, ColumnElement):  # of a JSON type if the field is a model (references)
        return source
    if one is None:
        raise TypeError(f"{where} is not a model: its source is a column, not a table")
    return sql_payload(one, source).expression


def sql_payload(
    model: type[BaseModel], row: FromClause | None = None, /, **sources: Source
) -> SqlJson:
    """``model``'s JSON built in SQL, as ``model_dump(mode="json", by_alias=True)`` shapes it:
    ``jsonb_build_object`` with a key per field of the model, each valued by ``sources[field]``
    if given, else by the column of ``row`` named as the field. A field whose type is a model
    may take a table or CTE (that model's JSON from its columns, recursively); a list of models
    takes an ``sql_list``. A field left without a source, or a source for no field, is an error
    when the statement is built (at import time)."""
    fields = model.model_fields
    if unknown := sorted(set(sources) - set(fields)):
        raise TypeError(f"{model.__name__} has no field {', '.join(unknown)}")
    pairs: list[Any] = []
    for name, field in fields.items():
        source = sources.get(name)
        if source is None and row is not None and name in row.c:
            source = row.c[name]
        pairs += [literal(field.alias or name), _field_sql(model, name, field.annotation, source)]
    return SqlJson(model, func.jsonb_build_object(*pairs))


def sql_list(
    model: type[BaseModel],
    rows: FromClause,
    /,
    *,
    order_by: Sequence[ColumnElement[Any]] = (),
    **sources: Source,
) -> SqlJson:
    """A JSON list of ``model``, one per row of ``rows`` (a subquery) in ``order_by``, ``[]``
    if none; each built by ``sql_payload(model, rows, **sources)``."""
    item = sql_payload(model, rows, **sources).expression
    aggregated = func.jsonb_agg(aggregate_order_by(item, *order_by) if order_by else item)
    listed = select(func.coalesce(aggregated, cast(literal("[]"), JSONB))).scalar_subquery()
    return SqlJson(model, listed, many=True)


@dataclass(frozen=True)
class SqlEvent:
    """An event built in SQL (``sql_event``): its model, its JSON, what it is about."""

    event: type[Event]
    data: SqlJson
    subject: ColumnElement[Any]

    def row(self) -> Select[Any]:
        """The outbox row of the event (id, type, subject, data, trace context), to which the
        caller adds where it comes from (``select_from``, ``where``). Its id and trace
        context are parameters, given by ``sql_event_values()`` at each execution."""
        return select(
            bindparam("event_id", type_=Uuid),
            literal(self.event.event_type, Text),
            cast(self.subject, Text),
            self.data.expression,
            *trace_binds(),
        )

    def into(self, outbox: Table, row: Select[Any] | None = None) -> Insert:
        """Insert into ``outbox`` the event's row: ``row`` if given (``self.row()`` with its
        ``select_from`` and ``where``), or ``self.row()`` as is."""
        selected = self.row() if row is None else row
        return insert(outbox).from_select(
            ["id", "type", "subject", "data", *TRACE_COLUMNS], selected
        )


def sql_event(
    event: type[Event],
    row: FromClause | None = None,
    /,
    *,
    subject: ColumnElement[Any],
    **sources: Source,
) -> SqlEvent:
    """``event`` built in SQL from ``row`` and ``sources`` (see ``sql_payload``), its type
    ``event.event_type`` and its subject ``subject`` (the SQL of ``event_subject()``). The
    event must be in the catalog. A statement that writes it runs with
    ``sql_event_values()``; once it has run (and committed), ``uow.written(event)``."""
    listed = EVENT_CATALOG.get(event.event_type)
    if listed is None or listed[0] is not event:
        raise TypeError(f"{event.__name__} is not in the event catalog")
    return SqlEvent(event, sql_payload(event, row, **sources), subject)


def sql_event_values() -> dict[str, Any]:
    """The parameters of an event written by SQL: a new id and the current trace context."""
    return {"event_id": uuid.uuid4(), **trace_values()}


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
