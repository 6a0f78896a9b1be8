"""Opaque cursors: what we hand out comes back as the same key; anything else is a 422."""

import base64
import uuid
from datetime import UTC, datetime

import orjson
import pytest

from contracts.enums import ErrorCode
from servicekit.errors import InvalidInput
from servicekit.pagination import decode_cursor, encode_cursor


def test_a_cursor_round_trips_to_the_same_sort_key() -> None:
    moment, item = datetime(2026, 11, 23, 12, 30, 1, 123456, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(moment, item)) == (moment, item)


def _made_of(*key: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


ITEM = "0b6c1f46-1d4e-4f0a-9a51-2f2d3a0c3c51"


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage!",
        "bm90IGpzb24",
        "WzEsMl0",
        "WyIyMDI2LTExLTIzVDEyOjMwOjAxIiwieCJd",
        "e30",
        _made_of("0001-01-01T00:00:00+05:00", ITEM),  # before year 1 in UTC
        _made_of("9999-12-31T23:59:59-05:00", ITEM),  # after year 9999 in UTC
        _made_of("2026-11-23T12:30:01+00:00", 5),
        _made_of("2026-11-23T12:30:01+00:00", [ITEM]),
        _made_of(20261123, ITEM),
        _made_of("2026-11-23T12:30:01+00:00", ITEM, "more"),
        "_w",  # base64 of a byte that is not UTF-8
        "ë",  # not base64
    ],
)
def test_a_cursor_we_did_not_make_is_invalid_input(cursor: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_cursor(cursor)
    reply = caught.value.to_reply()
    assert reply.code == ErrorCode.INVALID_CURSOR
    assert reply.errors[0].loc == ["query", "cursor"]
