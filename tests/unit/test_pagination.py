"""Opaque cursors: what we hand out comes back as the same key; anything else is a 422."""

import uuid
from datetime import UTC, datetime

import pytest

from contracts.enums import ErrorCode
from servicekit.errors import InvalidInput
from servicekit.pagination import decode_cursor, encode_cursor


def test_a_cursor_round_trips_to_the_same_sort_key() -> None:
    moment, item = datetime(2026, 11, 23, 12, 30, 1, 123456, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(moment, item)) == (moment, item)


@pytest.mark.parametrize(
    "cursor",
    ["", "garbage!", "bm90IGpzb24", "WzEsMl0", "WyIyMDI2LTExLTIzVDEyOjMwOjAxIiwieCJd", "e30"],
)
def test_a_cursor_we_did_not_make_is_invalid_input(cursor: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        decode_cursor(cursor)
    reply = caught.value.to_reply()
    assert reply.code == ErrorCode.VALIDATION
    assert reply.errors[0].loc == ["query", "cursor"]
