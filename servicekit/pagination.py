"""Opaque page cursors: the sort key of the last item, base64url-encoded JSON."""

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

import orjson
from pydantic import BaseModel

from contracts.rpc import Page
from servicekit.errors import InvalidInput


def encode_cursor(created_at: datetime, item_id: uuid.UUID) -> str:
    raw = orjson.dumps([created_at.isoformat(), str(item_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The sort key in ``cursor``; a cursor we did not make is a 422, not a 500."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, item_id = orjson.loads(raw)
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None:
            raise ValueError("naive timestamp")
        return moment, uuid.UUID(item_id)
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise InvalidInput("cursor is not one this API returned", loc=["query", "cursor"]) from exc


class Keyed(Protocol):
    created_at: datetime
    id: uuid.UUID


RowT = TypeVar("RowT", bound=Keyed)
ItemT = TypeVar("ItemT", bound=BaseModel)


def page_of(
    rows: Sequence[RowT], limit: int, to_item: Callable[[RowT], ItemT], total: int | None = None
) -> Page[ItemT]:
    """A page from ``limit + 1`` rows in keyset order: the extra row says a next page exists."""
    items = rows[:limit]
    next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit else None
    return Page[ItemT](items=[to_item(r) for r in items], next_cursor=next_cursor, total=total)
