"""The whole authorization matrix of docs/api.md in one place, and the attacks on its tokens.

Every endpoint that acts on something a customer owns is called by five callers: nobody
(no token), the owner, another customer, an agent and an admin. The matrix below is the
contract written as data, one row per endpoint and one expected status per caller; each
(row, caller) pair is its own test case. Together the cases prove that:

- without a token every endpoint answers 401 ``unauthorized`` with ``WWW-Authenticate: Bearer``;
- another customer cannot tell someone else's user, chat, message or ticket from one that does
  not exist (404 ``not_found``), and none of the owner's data leaks into that answer;
- a caller who may see a resource but whose role may not take the action gets 403
  ``forbidden``, staff-only endpoints refuse customers with 403, and everything else succeeds
  for exactly the roles the contract names;
- every refusal is an RFC 9457 problem with the right ``code``.

The token attacks then prove that nothing but an unexpired, well-formed HS256 token we signed
for our issuer and audience gets in, and that a token dies with its user's standing: a
soft-deleted user, a spent refresh token and a demoted admin keep no power.
"""

import base64
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import httpx
import jwt
import pytest

from support.api import (
    PASSWORD,
    User,
    ask,
    assert_problem,
    eventually,
    file_ticket,
    new_chat,
    read_sse,
    sign_up,
    unique_email,
)
from support.stack import JWT_SECRET

Caller = Literal["anonymous", "owner", "another_customer", "agent", "admin"]
CALLERS: tuple[Caller, ...] = ("anonymous", "owner", "another_customer", "agent", "admin")
Statuses = tuple[int, int, int, int, int]
"""The expected status for each caller, in the order of ``CALLERS``."""

CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict"}
"""The problem ``code`` every refusal in the matrix must carry."""


class Row(NamedTuple):
    """One endpoint of the matrix. ``path`` and ``body`` values are templates over:
    ``{owner}``, ``{owner_name}``, ``{chat}``, ``{message}``, ``{ticket}`` (shared by the
    module), ``{victim}`` (a fresh customer per case, who then is the "owner" caller) and
    ``{fresh_message}`` (a fresh sealed message of the owner per case)."""

    method: str
    path: str
    body: dict[str, str] | None
    expect: Statuses

    def expected(self, caller: Caller) -> int:
        return self.expect[CALLERS.index(caller)]


SAME_NAME = {"full_name": "{owner_name}"}  # a no-op change: every granted call answers 200
FOLLOW_UP = {"content": "One more thing"}
NEW_TICKET = {"message_id": "{fresh_message}", "issue_type": "other"}
SAME_PRIORITY = {"priority": "normal"}  # the current priority: granted calls stay 200

# fmt: off
MATRIX: list[Row] = [
    #   method    path                                                body
    #   (anonymous, owner, another_customer, agent, admin)
    # Users: self, agent and admin see; self and admin change; only admins restore or erase.
    Row("GET",    "/api/users/{owner}",                                None,
        (401, 200, 404, 200, 200)),
    Row("PATCH",  "/api/users/{owner}",                                SAME_NAME,
        (401, 200, 404, 403, 200)),
    Row("POST",   "/api/users/{owner}/restore",                        None,
        (401, 403, 404, 403, 200)),
    Row("GET",    "/api/users",                                        None,
        (401, 403, 403, 200, 200)),
    Row("DELETE", "/api/users/{victim}",                               None,
        (401, 204, 404, 403, 204)),
    Row("DELETE", "/api/users/{victim}?hard=true",                     None,
        (401, 403, 404, 403, 204)),
    # Chats: owner and staff read; only the owner posts; owner and admin retry (409: sealed).
    Row("GET",    "/api/chats/{chat}",                                 None,
        (401, 200, 404, 200, 200)),
    Row("GET",    "/api/chats?user_id={owner}",                        None,
        (401, 200, 403, 200, 200)),
    Row("POST",   "/api/chats/{chat}/messages",                        FOLLOW_UP,
        (401, 202, 404, 403, 403)),
    Row("GET",    "/api/chats/{chat}/messages",                        None,
        (401, 200, 404, 200, 200)),
    Row("GET",    "/api/chats/{chat}/messages/{message}",              None,
        (401, 200, 404, 200, 200)),
    Row("GET",    "/api/chats/{chat}/messages/{message}/stream",       None,
        (401, 200, 404, 200, 200)),
    Row("POST",   "/api/chats/{chat}/messages/{message}/retry",        None,
        (401, 409, 404, 403, 409)),
    # Tickets: owner and staff file and read; only staff change, count and export.
    Row("POST",   "/api/tickets",                                      NEW_TICKET,
        (401, 201, 404, 201, 201)),
    Row("GET",    "/api/tickets/{ticket}",                             None,
        (401, 200, 404, 200, 200)),
    Row("PATCH",  "/api/tickets/{ticket}",                             SAME_PRIORITY,
        (401, 403, 404, 200, 200)),
    Row("GET",    "/api/tickets/{ticket}/history",                     None,
        (401, 200, 404, 200, 200)),
    Row("GET",    "/api/messages/{message}/ticket",                    None,
        (401, 200, 404, 200, 200)),
    Row("GET",    "/api/tickets/stats",                                None,
        (401, 403, 403, 200, 200)),
    Row("GET",    "/api/tickets/export?user_id={owner}",               None,
        (401, 403, 403, 200, 200)),
    Row("GET",    "/api/tickets?user_id={owner}",                      None,
        (401, 200, 403, 200, 200)),
]
# fmt: on

CASES = [
    pytest.param(row, caller, id=f"{row.method} {row.path}-{caller}")
    for row in MATRIX
    for caller in CALLERS
]


@dataclass(frozen=True)
class World:
    """What the matrix acts on: an owner with a chat, a sealed message and its ticket."""

    owner: User
    other: User
    chat_id: str
    message: dict[str, Any]
    ticket: dict[str, Any]
    owner_name: str
    secrets: tuple[str, ...]
    """Text of the owner's that no refusal may ever contain."""

    @property
    def values(self) -> dict[str, str]:
        return {
            "owner": self.owner.id,
            "owner_name": self.owner_name,
            "chat": self.chat_id,
            "message": self.message["id"],
            "ticket": self.ticket["id"],
        }


@dataclass(frozen=True)
class Scene:
    """One case's targets: the world's, plus the throwaway ones its row asks for."""

    owner: User
    values: dict[str, str]
    secrets: tuple[str, ...]


def _sealed_message(api: httpx.Client, user: User, chat_id: str, content: str) -> dict[str, Any]:
    response = ask(api, user, chat_id, content, wait=10)
    assert response.status_code == 201, response.text
    message: dict[str, Any] = response.json()
    assert message["status"] == "sealed", message
    return message


@pytest.fixture(scope="module")
def world(api: httpx.Client) -> World:
    tag = uuid.uuid4().hex[:12]
    name = f"Owner Person {tag}"
    owner = sign_up(api, email=unique_email("owner"), full_name=name)
    title = f"Private chat {tag}"
    chat_id = new_chat(api, owner, title)
    question = f"How do I reset my password? My code is {tag}-secret"
    message = _sealed_message(api, owner, chat_id, question)
    description = f"the answer cites the wrong article {tag}"
    response = file_ticket(api, owner, message["id"], description=description)
    assert response.status_code == 201, response.text
    other = sign_up(api, full_name="Another Customer")
    secrets = (owner.email, name, title, question, description)
    return World(owner, other, chat_id, message, response.json(), name, secrets)


def _mentions(row: Row, placeholder: str) -> bool:
    token = "{" + placeholder + "}"
    return token in row.path or any(token in value for value in (row.body or {}).values())


def stage(api: httpx.Client, world: World, row: Row) -> Scene:
    """The targets of one case, creating the throwaway ones its row destroys or uses up."""
    owner, values, secrets = world.owner, world.values, world.secrets
    if _mentions(row, "victim"):
        owner = sign_up(api, full_name=f"Victim {uuid.uuid4().hex[:12]}")
        values["victim"] = owner.id
        secrets = (*secrets, owner.email)
    if _mentions(row, "fresh_message"):
        fresh = _sealed_message(api, world.owner, world.chat_id, "Can I get a refund?")
        values["fresh_message"] = fresh["id"]
    return Scene(owner, values, secrets)


def headers_of(user: User | None) -> dict[str, str]:
    return user.headers if user else {}


def send(
    api: httpx.Client, method: str, url: str, body: dict[str, str] | None, user: User | None
) -> httpx.Response:
    """Make the call and read the whole answer (an event stream ends at once when sealed)."""
    with api.stream(method, url, json=body, headers=headers_of(user)) as response:
        response.read()
    return response


def check_success(row: Row, response: httpx.Response, scene: Scene) -> None:
    """A granted call answers what its endpoint promises."""
    content_type = response.headers.get("content-type", "")
    if response.status_code == 204:
        assert response.content == b""
    elif row.path.endswith("/stream"):
        assert content_type.startswith("text/event-stream"), content_type
        events = read_sse(response)
        assert [name for name, _ in events] == ["token", "sealed"], events
        assert events[1][1]["id"] == scene.values["message"]
    elif "/export" in row.path:
        assert content_type.startswith("text/csv"), content_type
        header, *rows = response.text.splitlines()
        assert header.startswith("id,"), header
        assert any(line.startswith(scene.values["ticket"]) for line in rows), response.text
    else:
        assert content_type.startswith("application/json"), content_type


def check_refusal(response: httpx.Response, status: int) -> None:
    """A refusal is a problem+json with the code of its status (and a challenge on 401)."""
    assert_problem(response, status, CODES[status])
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def check_no_leak(response: httpx.Response, secrets: tuple[str, ...]) -> None:
    text = response.text.lower()
    leaked = [secret for secret in secrets if secret.lower() in text]
    assert not leaked, f"the refusal leaks {leaked}: {response.text}"


@pytest.mark.parametrize(("row", "caller"), CASES)
def test_authorization_matrix(
    api: httpx.Client,
    world: World,
    agent: User,
    admin: User,
    row: Row,
    caller: Caller,
) -> None:
    scene = stage(api, world, row)
    users: dict[Caller, User | None] = {
        "anonymous": None,
        "owner": scene.owner,
        "another_customer": world.other,
        "agent": agent,
        "admin": admin,
    }
    body = {key: value.format(**scene.values) for key, value in (row.body or {}).items()}
    url = row.path.format(**scene.values)
    response = send(api, row.method, url, body if row.body is not None else None, users[caller])

    expected = row.expected(caller)
    assert response.status_code == expected, f"{row.method} {url} as {caller}: {response.text}"
    if expected < 300:
        check_success(row, response, scene)
    else:
        check_refusal(response, expected)
    if caller == "another_customer" and response.status_code == 404:
        check_no_leak(response, scene.secrets)


# --- Token attacks --------------------------------------------------------------------------

ISSUER = "support-desk"  # the defaults of servicekit.settings.AuthSettings, which the
AUDIENCE = "support-desk-api"  # test stack does not override
OTHER_SECRET = "another-secret-0123456789abcdef-0123456789"
PROBES = [("GET", "/api/users/me"), ("GET", "/api/chats")]


def claims(user: User, **changes: object) -> dict[str, object]:
    """The claims the users service puts in a customer's access token, with ``changes``."""
    now = int(time.time())
    issued: dict[str, object] = {
        "sub": user.id,
        "role": "customer",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }
    issued.update(changes)
    return issued


def signed(payload: dict[str, object], secret: str = JWT_SECRET) -> str:
    return f"Bearer {jwt.encode(payload, secret, algorithm='HS256')}"


def tampered_signature(user: User) -> str:
    header, payload, signature = user.token.split(".")
    first = "B" if signature[0] != "B" else "C"  # the first character: all six bits count
    return f"Bearer {header}.{payload}.{first}{signature[1:]}"


def alg_none(user: User) -> str:
    return f"Bearer {jwt.encode(claims(user, role='admin'), None, algorithm='none')}"


def expired(user: User) -> str:
    now = int(time.time())
    return signed(claims(user, iat=now - 960, exp=now - 60))


def wrong_issuer(user: User) -> str:
    return signed(claims(user, iss="someone-else"))


def wrong_audience(user: User) -> str:
    return signed(claims(user, aud="another-api"))


def other_secret(user: User) -> str:
    return signed(claims(user, role="admin"), OTHER_SECRET)


def garbage(_: User) -> str:
    return "Bearer not-a-jwt-at-all"


def empty_bearer(_: User) -> str:
    # "Bearer " with its space: HTTP strips a value's trailing whitespace (RFC 9110, 5.5), so
    # on the wire, and to h11 which refuses to send it, an empty bearer header is this.
    return "Bearer"


def basic_auth(user: User) -> str:
    return "Basic " + base64.b64encode(f"{user.email}:{PASSWORD}".encode()).decode()


def sub_not_a_uuid(user: User) -> str:
    return signed(claims(user, sub="not-a-uuid"))


def unknown_role(user: User) -> str:
    return signed(claims(user, role="superuser"))


ATTACKS: list[Callable[[User], str]] = [
    tampered_signature,
    alg_none,
    expired,
    wrong_issuer,
    wrong_audience,
    other_secret,
    garbage,
    empty_bearer,
    basic_auth,
    sub_not_a_uuid,
    unknown_role,
]


@pytest.fixture(scope="module")
def holder(api: httpx.Client) -> User:
    """The customer whose identity the attacks borrow."""
    return sign_up(api)


def assert_unauthorized(response: httpx.Response) -> None:
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), PROBES, ids=[f"{m} {p}" for m, p in PROBES])
@pytest.mark.parametrize("attack", ATTACKS, ids=[attack.__name__ for attack in ATTACKS])
def test_a_bad_token_answers_401(
    api: httpx.Client, holder: User, attack: Callable[[User], str], method: str, path: str
) -> None:
    response = api.request(method, path, headers={"Authorization": attack(holder)})
    assert_unauthorized(response)


@pytest.mark.parametrize(("method", "path"), PROBES, ids=[f"{m} {p}" for m, p in PROBES])
def test_a_token_we_signed_is_honoured(
    api: httpx.Client, holder: User, method: str, path: str
) -> None:
    """The control for the attacks: the same construction, done right, gets in."""
    response = api.request(method, path, headers={"Authorization": signed(claims(holder))})
    assert response.status_code == 200, response.text


def settle(
    probe: Callable[[], httpx.Response], done: Callable[[httpx.Response], bool], seconds: float = 5
) -> httpx.Response:
    """The probe's answer once ``done`` (a revocation travels as an event), or the last one."""
    return eventually(probe, done, timeout=seconds)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/users/me"), ("POST", "/api/chats")],
    ids=["GET /api/users/me", "POST /api/chats"],
)
def test_a_soft_deleted_users_token_answers_401(api: httpx.Client, method: str, path: str) -> None:
    user = sign_up(api)
    assert api.delete(f"/api/users/{user.id}", headers=user.headers).status_code == 204
    response = settle(
        lambda: api.request(method, path, headers=user.headers),
        lambda answer: answer.status_code == 401,
    )
    assert_unauthorized(response)


def test_a_spent_refresh_token_answers_401(api: httpx.Client) -> None:
    user = sign_up(api)
    first = api.post("/api/auth/refresh", json={"refresh_token": user.refresh_token})
    assert first.status_code == 200, first.text
    fresh = {"Authorization": f"Bearer {first.json()['access_token']}"}
    assert api.get("/api/users/me", headers=fresh).status_code == 200
    again = api.post("/api/auth/refresh", json={"refresh_token": user.refresh_token})
    assert_problem(again, 401, "unauthorized")


def test_a_demoted_admin_keeps_no_admin_power(api: httpx.Client, admin: User) -> None:
    second = sign_up(api, role="admin", admin=admin)
    assert api.get("/api/users", headers=second.headers).status_code == 200
    demoted = api.patch(f"/api/users/{second.id}", json={"role": "customer"}, headers=admin.headers)
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["role"] == "customer"
    response = settle(
        lambda: api.get("/api/users", headers=second.headers),
        lambda answer: answer.status_code != 200,
    )
    assert response.status_code in (401, 403), f"the old admin token still works: {response.text}"
    check_refusal(response, response.status_code)
