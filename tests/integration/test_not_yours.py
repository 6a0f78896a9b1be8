"""Someone else's user, chat, message or ticket answers exactly what one that does not exist
answers: the same status, headers and problem body (only the trace id differs), so a refusal
tells nothing about what exists."""

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from support.api import User, answered_message, ask, assert_problem, file_ticket, sign_up

VARYING = {"x-trace-id", "date"}


@dataclass(frozen=True)
class Owned:
    """What another customer owns: a chat, a sealed message with a ticket, one without."""

    owner: User
    chat: str
    message: str
    ticket: str
    untracked: str
    """A message of the owner's with no ticket."""


@pytest.fixture(scope="module")
def owned(api: httpx.Client) -> Owned:
    owner = sign_up(api)
    message = answered_message(api, owner)
    ticket = file_ticket(api, owner, message["id"])
    assert ticket.status_code == 201, ticket.text
    untracked = ask(api, owner, message["chat_id"], "Can I get a refund?")
    assert untracked.status_code == 201, untracked.text
    return Owned(
        owner, message["chat_id"], message["id"], ticket.json()["id"], untracked.json()["id"]
    )


@pytest.fixture(scope="module")
def stranger(api: httpx.Client) -> User:
    return sign_up(api)


def _missing() -> str:
    return str(uuid.uuid4())


def _answer(response: httpx.Response) -> tuple[int, dict[str, str], dict[str, Any]]:
    headers = {k: v for k, v in response.headers.items() if k.lower() not in VARYING}
    return response.status_code, headers, response.json()


# (method, path template, body): the path's {user}, {chat}, {message}, {ticket} are filled
# with the owner's ids in one call and with ids of nothing in the others.
ENDPOINTS = [
    ("GET", "/api/users/{user}", None),
    ("PATCH", "/api/users/{user}", {"full_name": "Not Yours"}),
    ("DELETE", "/api/users/{user}", None),
    ("POST", "/api/users/{user}/restore", None),
    ("GET", "/api/chats/{chat}", None),
    ("GET", "/api/chats/{chat}/messages", None),
    ("POST", "/api/chats/{chat}/messages", {"content": "Is anyone there?"}),
    ("GET", "/api/chats/{chat}/messages/{message}", None),
    ("GET", "/api/chats/{chat}/messages/{message}/stream", None),
    ("POST", "/api/chats/{chat}/messages/{message}/retry", None),
    ("GET", "/api/tickets/{ticket}", None),
    ("PATCH", "/api/tickets/{ticket}", {"priority": "high"}),
    ("GET", "/api/tickets/{ticket}/history", None),
    ("GET", "/api/messages/{message}/ticket", None),
    ("POST", "/api/tickets", {"message_id": "{message}", "issue_type": "other"}),
]


def _send(
    api: httpx.Client, user: User, method: str, path: str, body: Any, ids: dict[str, str]
) -> httpx.Response:
    json = {k: v.format(**ids) for k, v in body.items()} if body else None
    with api.stream(method, path.format(**ids), json=json, headers=user.headers) as response:
        response.read()
    return response


@pytest.mark.parametrize(
    ("method", "path", "body"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS]
)
def test_someone_elses_answers_as_what_does_not_exist(
    api: httpx.Client, owned: Owned, stranger: User, method: str, path: str, body: Any
) -> None:
    theirs = {
        "user": owned.owner.id,
        "chat": owned.chat,
        "message": owned.message,
        "ticket": owned.ticket,
    }
    nothing = {name: _missing() for name in theirs}
    # Half missing: the owner's chat with no such message in it, and the other way round.
    half = {**theirs, "message": _missing()}
    response = _send(api, stranger, method, path, body, theirs)
    assert_problem(response, 404, "not_found")
    refusal = _answer(response)
    for ids in (nothing, half):
        assert _answer(_send(api, stranger, method, path, body, ids)) == refusal, ids


def test_a_message_of_someone_elses_without_a_ticket_answers_as_a_missing_one(
    api: httpx.Client, owned: Owned, stranger: User
) -> None:
    """The ticket of a message: theirs with a ticket, theirs without, the stranger's own
    without, and a message that does not exist all answer the same."""
    own = answered_message(api, stranger)
    answers = [
        _answer(api.get(f"/api/messages/{message}/ticket", headers=stranger.headers))
        for message in (owned.message, owned.untracked, own["id"], _missing())
    ]
    assert answers[0][0] == 404
    assert all(answer == answers[0] for answer in answers), answers


def test_a_soft_deleted_user_answers_an_agent_as_a_missing_one(
    api: httpx.Client, agent: User
) -> None:
    gone = sign_up(api)
    assert api.delete(f"/api/users/{gone.id}", headers=gone.headers).status_code == 204
    answers = [
        _answer(api.get(f"/api/users/{user}", headers=agent.headers))
        for user in (gone.id, _missing())
    ]
    assert answers[0][0] == 404
    assert answers[0] == answers[1], answers
