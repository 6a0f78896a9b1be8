"""Talking to the REST API as a client would."""

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from support.stack import ADMIN_EMAIL, ADMIN_PASSWORD

T = TypeVar("T")
PASSWORD = "Correct-horse-1"
PROBLEM = "application/problem+json"


@dataclass
class User:
    id: str
    email: str
    password: str
    token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def eventually(
    probe: Callable[[], T], done: Callable[[T], bool], timeout: float = 10, every: float = 0.1
) -> T:
    """Probe until ``done`` holds or time is up (what travels by events takes a moment);
    the last result either way, for the caller to assert on."""
    deadline = time.monotonic() + timeout
    result = probe()
    while not done(result) and time.monotonic() < deadline:
        time.sleep(every)
        result = probe()
    return result


def login(api: httpx.Client, email: str, password: str) -> httpx.Response:
    return api.post("/api/auth/token", data={"username": email, "password": password})


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def sign_in(api: httpx.Client, email: str, password: str) -> User:
    response = login(api, email, password)
    assert response.status_code == 200, response.text
    tokens = response.json()
    me = api.get("/api/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200, me.text
    return User(me.json()["id"], email, password, tokens["access_token"], tokens["refresh_token"])


def sign_up(
    api: httpx.Client,
    *,
    role: str | None = None,
    admin: User | None = None,
    email: str | None = None,
    full_name: str = "Test User",
) -> User:
    """Create a user (staff roles through ``admin``) and log them in."""
    body: dict[str, Any] = {
        "email": email or unique_email(role or "customer"),
        "password": PASSWORD,
        "full_name": full_name,
    }
    if role:
        body["role"] = role
    headers = admin.headers if admin else {}
    response = api.post("/api/users", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return sign_in(api, body["email"], PASSWORD)


def admin_user(api: httpx.Client) -> User:
    return sign_in(api, ADMIN_EMAIL, ADMIN_PASSWORD)


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status (and code)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys(), body
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return body


def read_sse(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """The events of a ``text/event-stream`` response, in order, until it ends."""
    events: list[tuple[str, dict[str, Any]]] = []
    event, data = "message", list[str]()
    for line in response.iter_lines():
        if line.startswith(":"):
            continue
        if not line:
            if data:
                events.append((event, json.loads("\n".join(data))))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    return events


def new_chat(api: httpx.Client, user: User, title: str = "Help") -> str:
    response = api.post("/api/chats", json={"title": title}, headers=user.headers)
    assert response.status_code == 201, response.text
    chat_id: str = response.json()["id"]
    return chat_id


def ask(
    api: httpx.Client,
    user: User,
    chat_id: str,
    content: str,
    *,
    wait: float = 10,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a message; with ``wait``, the answer if it came in time."""
    return api.post(
        f"/api/chats/{chat_id}/messages",
        params={"wait": wait} if wait else None,
        json={"content": content},
        headers={**user.headers, **(headers or {})},
    )


def answered_message(
    api: httpx.Client, user: User, question: str = "How do I reset my password?"
) -> dict[str, Any]:
    chat_id = new_chat(api, user)
    response = ask(api, user, chat_id, question)
    assert response.status_code == 201, response.text
    message: dict[str, Any] = response.json()
    return message


def file_ticket(
    api: httpx.Client,
    user: User,
    message_id: str,
    issue_type: str = "wrong_reference",
    **extra: Any,
) -> httpx.Response:
    body = {"message_id": message_id, "issue_type": issue_type, **extra}
    return api.post("/api/tickets", json=body, headers=user.headers)
