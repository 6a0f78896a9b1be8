"""Events built in SQL (``servicekit.outbox.sql_event``) have the keys of their models.

The hot statements of the chat service write their events with a data-modifying CTE, so
Postgres builds the JSON: here the ``jsonb_build_object`` calls those statements embed are read
back, key by key and nested object by nested object, and compared with the pydantic models."""

import typing
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import Column, ColumnElement, Integer, MetaData, Table, Text, Uuid
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.functions import Function

from chat_service.messages.repository import SQL_EVENTS
from contracts.base import Event
from contracts.chat import MessageCreated, MessageFailed, MessagePublic, MessageSealed, Turn
from servicekit.event_rows import sql_event, sql_list, sql_payload

Shape = dict[str, Any]
"""The keys of a JSON object built in SQL, each valued by what it nests: an object's shape, a
list holding the shape of its items, or None for a column's value."""


def _is_function(element: Any, name: str) -> typing.TypeGuard[Function[Any]]:
    return isinstance(element, Function) and element.name == name


def _shape(built: Any) -> Shape:
    assert _is_function(built, "jsonb_build_object"), built
    arguments = list(built.clauses)
    shape: Shape = {}
    for key, value in zip(arguments[::2], arguments[1::2], strict=True):
        assert isinstance(key, BindParameter), key
        shape[str(key.value)] = _nested(value)
    return shape


def _nested(value: ColumnElement[Any]) -> Shape | list[Shape] | None:
    if _is_function(value, "jsonb_build_object"):
        return _shape(value)
    inside = list(visitors.iterate(value))
    objects = [e for e in inside if _is_function(e, "jsonb_build_object")]
    if not objects:
        return None
    assert any(_is_function(e, "jsonb_agg") for e in inside), "a nested object not in a list"
    return [_shape(objects[0])]


def _assert_is_model(shape: Shape, model: type[BaseModel]) -> None:
    fields = model.model_fields
    assert set(shape) == {field.alias or name for name, field in fields.items()}, model
    for name, field in fields.items():
        nested = shape[field.alias or name]
        if isinstance(nested, dict):
            assert isinstance(field.annotation, type)
            _assert_is_model(nested, field.annotation)
        elif isinstance(nested, list):
            (item,) = typing.get_args(field.annotation)
            _assert_is_model(nested[0], item)


@pytest.mark.parametrize("built", SQL_EVENTS, ids=lambda e: e.event.__name__)
def test_an_event_built_in_sql_has_its_models_keys(built: Any) -> None:
    shape = _shape(built.data.expression)
    _assert_is_model(shape, built.event)
    columns = list(built.row().selected_columns)
    assert columns[1].value == built.event.event_type, "the outbox row's type"
    assert columns[3] is built.data.expression, "the outbox row's data"


def test_the_chat_statements_build_every_message_event() -> None:
    assert {e.event for e in SQL_EVENTS} == {MessageCreated, MessageSealed, MessageFailed}
    for built in SQL_EVENTS:
        if built.event is MessageCreated:
            shape = _shape(built.data.expression)
            assert set(shape["message"]) == set(MessagePublic.model_fields)
            assert shape["recent_turns"] == [dict.fromkeys(Turn.model_fields)]


_rows = Table(
    "rows",
    MetaData(),
    Column("id", Uuid),
    Column("user_input", Text),
    Column("ai_response", Text),
    Column("n", Integer),
)


class Unlisted(Event):
    event_type = "support.nothing.happened"

    id: int


def test_an_event_the_catalog_does_not_list_is_refused() -> None:
    with pytest.raises(TypeError, match="not in the event catalog"):
        sql_event(Unlisted, _rows, subject=_rows.c.id)


def test_every_field_needs_a_source_and_every_source_a_field() -> None:
    with pytest.raises(TypeError, match=r"MessagePublic\.chat_id has no source column"):
        sql_payload(MessagePublic, _rows)
    with pytest.raises(TypeError, match="Turn has no field n"):
        sql_payload(Turn, _rows, n=_rows.c.n)
    assert set(_shape(sql_payload(Turn, _rows).expression)) == {"user_input", "ai_response"}


def test_a_nested_model_takes_its_own_json() -> None:
    turns = sql_list(Turn, _rows.select().subquery())
    with pytest.raises(TypeError, match=r"MessageCreated\.message is not a list of Turn"):
        sql_event(MessageCreated, _rows, subject=_rows.c.id, message=turns)
    with pytest.raises(TypeError, match=r"Turn\.user_input is not a model"):
        sql_payload(Turn, _rows, user_input=_rows)
