"""A cursor the API did not hand out answers 422 ``invalid_cursor`` on every list, also one
that decodes to a moment at the edge of the calendar (which UTC cannot hold)."""

import base64
import json
import uuid

import httpx
import pytest

from support.api import User, assert_problem, new_chat


def _cursor(moment: str) -> str:
    """Made as servicekit.pagination encodes cursors: base64url of the JSON [iso, uuid]."""
    raw = json.dumps([moment, str(uuid.uuid4())]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


CURSORS = [
    pytest.param(_cursor("0001-01-01T00:00:00+05:00"), id="year 1 east of UTC"),
    pytest.param(_cursor("9999-12-31T23:59:59-05:00"), id="year 9999 west of UTC"),
    pytest.param("garbage!", id="garbage"),
    pytest.param(_cursor("not a moment"), id="not a moment"),
    pytest.param(
        base64.urlsafe_b64encode(b'["2026-11-23T12:30:01+00:00", 5]').decode(), id="id a number"
    ),
]
LISTS = ["/api/users", "/api/chats", "/api/chats/{chat}/messages", "/api/tickets"]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("cursor", CURSORS)
def test_a_cursor_we_did_not_make_answers_422_invalid_cursor(
    api: httpx.Client, agent: User, path: str, cursor: str
) -> None:
    url = path.format(chat=new_chat(api, agent)) if "{chat}" in path else path
    response = api.get(url, params={"cursor": cursor}, headers=agent.headers)
    body = assert_problem(response, 422, "invalid_cursor")
    assert body["errors"][0]["loc"] == ["query", "cursor"], body


@pytest.mark.parametrize("path", LISTS)
def test_a_cursor_we_made_still_pages(api: httpx.Client, agent: User, path: str) -> None:
    chat = new_chat(api, agent)
    new_chat(api, agent)
    url = path.format(chat=chat)
    first = api.get(url, params={"limit": 1}, headers=agent.headers)
    assert first.status_code == 200, first.text
    cursor = first.json()["next_cursor"]
    if cursor is not None:  # an agent's empty list of messages or tickets has no next page
        second = api.get(url, params={"limit": 1, "cursor": cursor}, headers=agent.headers)
        assert second.status_code == 200, second.text
