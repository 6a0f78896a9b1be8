"""How events become outbox rows: built from their models in Python (``outbox_rows``, for
a unit of work's commit), or in SQL (``sql_event``, for a statement that changes a row and
records its event at once, with a data-modifying CTE). Either way the row's type, subject and
data come from the event's class, and the trace context it was recorded in goes with it.
"""

import types
import typing
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    FromClause,
    Insert,
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
from contracts.events import EVENT_CATALOG
from servicekit import tracing
from servicekit.tracing import TRACEPARENT, TRACESTATE

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
