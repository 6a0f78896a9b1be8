"""Cursors the API did not make, for the lists' refusals."""

import base64
import uuid

import orjson
import pytest


def cursor_at(moment: str) -> str:
    """A cursor as the API makes them (base64url of the JSON ``[moment, id]``), but at
    ``moment``: at the calendar's edge, UTC cannot hold it."""
    return base64.urlsafe_b64encode(orjson.dumps([moment, str(uuid.uuid4())])).decode()


NOT_OUR_CURSORS = [
    pytest.param("not-ours", id="garbage"),
    pytest.param(cursor_at("0001-01-01T00:00:00+05:00"), id="before year 1 in UTC"),
    pytest.param(cursor_at("9999-12-31T23:59:59-05:00"), id="after year 9999 in UTC"),
]
