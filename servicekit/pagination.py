"""Opaque page cursors: the sort key of the last item, base64url-encoded JSON."""

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, overload

import orjson
from pydantic import BaseModel
from sqlalchemy import ColumnElement, bindparam, tuple_
from sqlalchemy.orm import QueryableAttribute

from contracts.rpc import Page
from servicekit.errors import InvalidCursor

Key = tuple[datetime, uuid.UUID]  # the sort key of a page's last item
T = TypeVar("T")
Column = QueryableAttribute[T] | ColumnElement[T]


def keyset_past(
    created_at: Column[datetime], item_id: Column[uuid.UUID], key: Key, *, newest_first: bool
) -> ColumnElement[bool]:
    """The rows that come after ``key`` in the page order: ``(created_at, id) < key`` newest
    first, ``>`` oldest first; typed as the columns are (an untyped timestamp would be compared
    in the session's time zone)."""
    row = tuple_(created_at, item_id)
    bound = tuple_(
        bindparam(None, key[0], type_=created_at.type),
        bindparam(None, key[1], type_=item_id.type),
    )
    return row < bound if newest_first else row > bound


def encode_cursor(created_at: datetime, item_id: uuid.UUID) -> str:
    raw = orjson.dumps([created_at.isoformat(), str(item_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    """The sort key in ``cursor``; a cursor we did not make is a 422 ``invalid_cursor``, not
    a 500."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, item_id = orjson.loads(raw)
        if not (isinstance(created_at, str) and isinstance(item_id, str)):
            raise TypeError("not [timestamp, id]")
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None:
            raise ValueError("naive timestamp")
        # The database takes the moment in UTC: at the calendar's edge (year 1 east of UTC,
        # 9999 west of it) that is out of range.
        moment.astimezone(UTC)
        return moment, uuid.UUID(item_id)
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError, OverflowError) as exc:
        raise InvalidCursor("cursor is not one this API returned", loc=["query", "cursor"]) from exc


class Keyed(Protocol):
    created_at: datetime
    id: uuid.UUID


RowT = TypeVar("RowT", bound=Keyed)
ItemT = TypeVar("ItemT", bound=BaseModel)


KeyedItemT = TypeVar("KeyedItemT", bound=BaseModel)  # with ``created_at`` and ``id``


@overload
def page_of(
    rows: Sequence[RowT], limit: int, to_item: Callable[[RowT], ItemT], total: int | None = None
) -> Page[ItemT]: ...


@overload
def page_of(
    rows: Sequence[KeyedItemT], limit: int, *, total: int | None = None
) -> Page[KeyedItemT]: ...


def page_of(
    rows: Sequence[Any],
    limit: int,
    to_item: Callable[[Any], Any] | None = None,
    total: int | None = None,
) -> Page[Any]:
    """A page from ``limit + 1`` rows in keyset order: the extra row says a next page exists.
    Rows are converted by ``to_item``, or are the items already."""
    items = rows[:limit]
    next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit else None
    converted = items if to_item is None else [to_item(r) for r in items]
    return Page[Any](items=list(converted), next_cursor=next_cursor, total=total)
