"""Chats and messages (docs/api.md), on the system as ``make run`` starts it: no LLM key, so the
AI worker answers from the knowledge base."""

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from support.api import User, ask, assert_problem, eventually, new_chat, read_sse, sign_up
from support.stack import Stack


def test_create_and_read_a_chat(api: httpx.Client, customer: User, agent: User) -> None:
    response = api.post(
        "/api/chats", json={"title": "  Billing question "}, headers=customer.headers
    )
    assert response.status_code == 201
    chat = response.json()
    assert response.headers["location"] == f"/api/chats/{chat['id']}"
    assert (chat["title"], chat["user_id"]) == ("Billing question", customer.id)
    untitled = api.post("/api/chats", headers=customer.headers)
    assert untitled.status_code == 201
    assert untitled.json()["title"] == "New chat"
    for reader in (customer, agent):
        assert api.get(f"/api/chats/{chat['id']}", headers=reader.headers).json() == chat
    assert_problem(api.get(f"/api/chats/{chat['id']}", headers=sign_up(api).headers), 404)
    assert_problem(api.get(f"/api/chats/{uuid.uuid4()}", headers=agent.headers), 404)


def test_chat_lists(api: httpx.Client, customer: User, agent: User) -> None:
    mine = [new_chat(api, customer, f"chat {i}") for i in range(3)]
    other = sign_up(api)
    new_chat(api, other)
    page = api.get("/api/chats", params={"limit": 2}, headers=customer.headers).json()
    second = api.get(
        "/api/chats", params={"limit": 2, "cursor": page["next_cursor"]}, headers=customer.headers
    ).json()
    listed = [c["id"] for c in page["items"] + second["items"]]
    assert listed == list(reversed(mine)), "own chats only, newest first"
    assert second["next_cursor"] is None
    response = api.get("/api/chats", params={"user_id": other.id}, headers=customer.headers)
    assert_problem(response, 403, "forbidden")
    theirs = api.get("/api/chats", params={"user_id": customer.id}, headers=agent.headers).json()
    assert {c["id"] for c in theirs["items"]} == set(mine)


def test_how_do_i_reset_my_password_gets_a_cited_answer(api: httpx.Client, customer: User) -> None:
    chat_id = new_chat(api, customer)
    response = ask(api, customer, chat_id, "How do I reset my password?")
    assert response.status_code == 201, response.text
    message = response.json()
    assert response.headers["location"] == f"/api/chats/{chat_id}/messages/{message['id']}"
    assert message["status"] == "sealed"
    assert message["sealed_at"] is not None
    assert message["model"] == "offline-bm25"
    assert "Forgot password?" in message["ai_response"]
    assert "[1]" in message["ai_response"]
    first = message["references"][0]
    assert first["source"].startswith("reset-your-password.md")
    assert first["title"].startswith("Reset your password")
    assert first["snippet"]


def test_without_wait_the_message_is_accepted_pending(api: httpx.Client, customer: User) -> None:
    chat_id = new_chat(api, customer)
    response = ask(api, customer, chat_id, "Can I get a refund?", wait=0)
    assert response.status_code == 202
    assert response.json()["status"] in ("pending", "sealed")
    message_id = response.json()["id"]
    current = eventually(
        lambda: api.get(f"/api/chats/{chat_id}/messages/{message_id}", headers=customer.headers),
        lambda r: r.json()["status"] == "sealed",
    )
    assert current.json()["status"] == "sealed"


def test_stream_of_a_finished_message_is_its_answer_then_its_final_event(
    api: httpx.Client, customer: User
) -> None:
    chat_id = new_chat(api, customer)
    message = ask(api, customer, chat_id, "How do I export my data?").json()
    url = f"/api/chats/{chat_id}/messages/{message['id']}/stream"
    with api.stream("GET", url, headers=customer.headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = read_sse(response)
    assert events == [
        ("token", {"delta": message["ai_response"], "offset": 0}),
        ("sealed", message),
    ]


def test_messages_are_listed_oldest_first(api: httpx.Client, customer: User, agent: User) -> None:
    chat_id = new_chat(api, customer)
    sent = [
        ask(api, customer, chat_id, f"Question {i} about invoices").json()["id"] for i in range(3)
    ]
    first = api.get(f"/api/chats/{chat_id}/messages", params={"limit": 2}, headers=agent.headers)
    rest = api.get(
        f"/api/chats/{chat_id}/messages",
        params={"limit": 2, "cursor": first.json()["next_cursor"]},
        headers=customer.headers,
    )
    assert [m["id"] for m in first.json()["items"] + rest.json()["items"]] == sent


def test_who_may_post(api: httpx.Client, customer: User, agent: User, admin: User) -> None:
    chat_id = new_chat(api, customer)
    assert_problem(ask(api, agent, chat_id, "hello", wait=0), 403, "forbidden")
    assert_problem(ask(api, admin, chat_id, "hello", wait=0), 403, "forbidden")
    assert_problem(ask(api, sign_up(api), chat_id, "hello", wait=0), 404, "not_found")
    assert_problem(ask(api, customer, str(uuid.uuid4()), "hello", wait=0), 404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"content": ""},
        {"content": "   "},
        {"content": "x" * 8001},
        {"text": "hi"},
        {"content": "hi", "extra": 1},
    ],
)
def test_invalid_message_answers_422(api: httpx.Client, customer: User, body: object) -> None:
    chat_id = new_chat(api, customer)
    response = api.post(f"/api/chats/{chat_id}/messages", json=body, headers=customer.headers)
    assert_problem(response, 422, "validation_error")


def test_wait_is_bounded(api: httpx.Client, customer: User) -> None:
    chat_id = new_chat(api, customer)
    assert_problem(ask(api, customer, chat_id, "hello", wait=31), 422)


def test_idempotency_key_makes_a_retried_post_harmless(api: httpx.Client, customer: User) -> None:
    chat_id = new_chat(api, customer)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = ask(api, customer, chat_id, "How do I invite teammates?", wait=0, headers=key)
    again = ask(api, customer, chat_id, "How do I invite teammates?", wait=0, headers=key)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    listed = api.get(f"/api/chats/{chat_id}/messages", headers=customer.headers).json()["items"]
    assert [m["id"] for m in listed] == [first.json()["id"]]
    other = ask(api, customer, chat_id, "Something else", wait=0, headers=key)
    assert_problem(other, 409, "conflict")


def test_concurrent_posts_with_one_key_make_one_message(api: httpx.Client, customer: User) -> None:
    chat_id = new_chat(api, customer)
    key = {"Idempotency-Key": str(uuid.uuid4())}

    async def post_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=str(api.base_url), timeout=15) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"/api/chats/{chat_id}/messages",
                        json={"content": "Same question"},
                        headers={**customer.headers, **key},
                    )
                    for _ in range(8)
                )
            )

    responses = asyncio.run(post_all())
    assert {r.status_code for r in responses} == {202}, [(r.status_code, r.text) for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    listed = api.get(f"/api/chats/{chat_id}/messages", headers=customer.headers).json()["items"]
    assert len(listed) == 1


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_messages_are_immutable_over_http(api: httpx.Client, customer: User, method: str) -> None:
    chat_id = new_chat(api, customer)
    message = ask(api, customer, chat_id, "What are the plans?").json()
    response = api.request(
        method,
        f"/api/chats/{chat_id}/messages/{message['id']}",
        json={"user_input": "changed"},
        headers=customer.headers,
    )
    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


def test_retry_of_a_sealed_message_answers_409(api: httpx.Client, customer: User) -> None:
    chat_id = new_chat(api, customer)
    message = ask(api, customer, chat_id, "How do I create a project?").json()
    response = api.post(
        f"/api/chats/{chat_id}/messages/{message['id']}/retry", headers=customer.headers
    )
    assert_problem(response, 409, "conflict")


def _sql(stack: Stack, statement: str, *args: object) -> object:
    async def run() -> object:
        connection = await asyncpg.connect(stack.infra.dsn)
        try:
            return await connection.execute(statement, *args)
        finally:
            await connection.close()

    return asyncio.run(run())


def test_the_database_refuses_to_change_a_sealed_message(
    api: httpx.Client, stack: Stack, customer: User
) -> None:
    chat_id = new_chat(api, customer)
    message = ask(api, customer, chat_id, "How do I enable two-factor authentication?").json()
    assert message["status"] == "sealed"
    for statement in (
        "UPDATE chat.messages SET ai_response = 'rewritten' WHERE id = $1",
        "UPDATE chat.messages SET status = 'pending' WHERE id = $1",
        "UPDATE chat.messages SET user_input = 'rewritten' WHERE id = $1",
    ):
        with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="sealed"):
            _sql(stack, statement, uuid.UUID(message["id"]))
    after = api.get(f"/api/chats/{chat_id}/messages/{message['id']}", headers=customer.headers)
    assert after.json() == message


def test_the_database_refuses_to_rewrite_a_pending_input(
    api: httpx.Client, stack: Stack, customer: User
) -> None:
    chat_id = new_chat(api, customer)
    message_id = uuid.uuid4()
    _sql(
        stack,
        "INSERT INTO chat.messages (id, chat_id, user_input, status, emitted_at)"
        " VALUES ($1, $2, 'original', 'pending', now() + interval '1 hour')",
        message_id,
        uuid.UUID(chat_id),
    )
    with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="input"):
        _sql(stack, "UPDATE chat.messages SET user_input = 'rewritten' WHERE id = $1", message_id)


def test_a_message_stuck_pending_is_swept_and_answered(
    api: httpx.Client, stack: Stack, customer: User
) -> None:
    """A message whose event never went out (no outbox row) is re-emitted by the sweeper."""
    chat_id = new_chat(api, customer)
    message_id = uuid.uuid4()
    _sql(
        stack,
        "INSERT INTO chat.messages (id, chat_id, user_input, status, emitted_at)"
        " VALUES ($1, $2, 'How do I track time with the timer?', 'pending',"
        " now() - interval '1 minute')",
        message_id,
        uuid.UUID(chat_id),
    )
    url = f"/api/chats/{chat_id}/messages/{message_id}"
    message = eventually(
        lambda: api.get(url, headers=customer.headers).json(),
        lambda m: m["status"] != "pending",
        timeout=20,
    )
    assert message["status"] == "sealed"
    assert message["references"]


def test_hard_deleting_a_user_deletes_their_chats(api: httpx.Client, admin: User) -> None:
    user = sign_up(api)
    chat_id = new_chat(api, user)
    ask(api, user, chat_id, "How do I delete my account?")
    assert api.get(f"/api/chats/{chat_id}", headers=admin.headers).status_code == 200
    assert api.delete(f"/api/users/{user.id}?hard=true", headers=admin.headers).status_code == 204
    gone = eventually(
        lambda: api.get(f"/api/chats/{chat_id}", headers=admin.headers),
        lambda r: r.status_code == 404,
        timeout=15,
    )
    assert_problem(gone, 404)
    chats = api.get("/api/chats", params={"user_id": user.id}, headers=admin.headers).json()
    assert chats["items"] == []
