"""The AI worker through the real ``openai`` client, against a real HTTP server speaking the
chat-completions protocol, told per message (``[[fake:...]]``) to answer normally, slowly,
with 429/500, or to drop the stream halfway. Every path ends sealed or failed as designed."""

import asyncio
import time
import uuid
from typing import Any

import aio_pika
import httpx
import pytest

from contracts.names import EVENTS_EXCHANGE
from fakes.openai_server import FakeOpenAI
from support.api import User, ask, new_chat, read_sse, sign_up
from support.stack import Stack


@pytest.fixture
def asker(llm_api: httpx.Client) -> User:
    return sign_up(llm_api)


def _question(behaviour: str = "") -> str:
    """A question unique to the test (the fake counts failures per distinct text)."""
    marker = f" [[fake:{behaviour}]]" if behaviour else ""
    return f"How do I reset my password? ({uuid.uuid4().hex[:6]}){marker}"


def _requests_for(fake: FakeOpenAI, question: str) -> list[dict[str, Any]]:
    return [r.body for r in fake.requests if r.body["messages"][-1]["content"] == question]


def _settle(
    api: httpx.Client, user: User, chat_id: str, message_id: str, timeout: float = 20
) -> dict[str, Any]:
    url = f"/api/chats/{chat_id}/messages/{message_id}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message: dict[str, Any] = api.get(url, headers=user.headers).json()
        if message["status"] != "pending":
            return message
        time.sleep(0.1)
    raise AssertionError(f"message {message_id} still pending after {timeout}s")


def test_answer_comes_from_the_model_with_passages_and_references(
    llm_api: httpx.Client, asker: User, fake_llm: FakeOpenAI
) -> None:
    chat_id = new_chat(llm_api, asker)
    question = _question()
    response = ask(llm_api, asker, chat_id, question)
    assert response.status_code == 201, response.text
    message = response.json()
    assert message["status"] == "sealed"
    assert message["ai_response"] == fake_llm.answer_for(question)
    assert message["model"] == "fake-model"
    assert message["references"][0]["source"].startswith("reset-your-password.md")
    (request,) = _requests_for(fake_llm, question)
    assert request["stream"] is True
    assert request["model"] == "fake-model"
    system = request["messages"][0]["content"]
    assert "[1] Reset your password" in system, "the retrieved passages are in the prompt"
    assert "Forgot password?" in system


def test_recent_turns_reach_the_model(
    llm_api: httpx.Client, asker: User, fake_llm: FakeOpenAI
) -> None:
    chat_id = new_chat(llm_api, asker)
    first = ask(llm_api, asker, chat_id, _question()).json()
    second_question = _question()
    ask(llm_api, asker, chat_id, second_question)
    (request,) = _requests_for(fake_llm, second_question)
    roles = [m["role"] for m in request["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert request["messages"][1]["content"] == first["user_input"]
    assert request["messages"][2]["content"] == first["ai_response"]


def test_tokens_stream_then_the_sealed_message(
    llm_api: httpx.Client, asker: User, fake_llm: FakeOpenAI
) -> None:
    chat_id = new_chat(llm_api, asker)
    question = _question("slow:0.8")
    message = ask(llm_api, asker, chat_id, question, wait=0).json()
    url = f"/api/chats/{chat_id}/messages/{message['id']}/stream"
    with llm_api.stream("GET", url, headers=asker.headers) as response:
        events = read_sse(response)
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "sealed"
    assert kinds.count("token") >= 3, kinds
    assert set(kinds[:-1]) == {"token"}
    text = "".join(data["delta"] for kind, data in events if kind == "token")
    sealed = events[-1][1]
    assert text == sealed["ai_response"] == fake_llm.answer_for(question)


def test_chunk_fields_of_unexpected_shapes_read_as_missing(
    llm_api: httpx.Client, asker: User, fake_llm: FakeOpenAI
) -> None:
    """An endpoint that is "OpenAI-compatible" but loose about its chunks still gets its answer
    sealed: the worker reads the fields it needs and takes a field of another shape as absent."""
    chat_id = new_chat(llm_api, asker)
    question = _question("odd")
    message = ask(llm_api, asker, chat_id, question).json()
    assert message["status"] == "sealed", message
    assert message["ai_response"] == fake_llm.answer_for(question)
    assert message["model"] == "fake-model"


@pytest.mark.parametrize("behaviour", ["status:429x2", "status:500x2", "dropx1", "dropx2"])
def test_transient_failures_are_retried_then_sealed(
    llm_api: httpx.Client, asker: User, fake_llm: FakeOpenAI, behaviour: str
) -> None:
    chat_id = new_chat(llm_api, asker)
    question = _question(behaviour)
    message = ask(llm_api, asker, chat_id, question, wait=15).json()
    assert message["status"] == "sealed", message
    assert message["ai_response"] == fake_llm.answer_for(question)
    assert len(_requests_for(fake_llm, question)) == int(behaviour[-1]) + 1


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        ("status:500", "HTTP 500"),
        ("status:429", "HTTP 429"),
        ("drop", "connection lost"),
        ("slow:4", "timed out"),
    ],
)
def test_persistent_failures_end_failed_with_a_reason(
    llm_api: httpx.Client, asker: User, fake_llm: FakeOpenAI, behaviour: str, reason: str
) -> None:
    chat_id = new_chat(llm_api, asker)
    question = _question(behaviour)
    sent = ask(llm_api, asker, chat_id, question, wait=0).json()
    message = _settle(llm_api, asker, chat_id, sent["id"])
    assert message["status"] == "failed"
    assert reason in message["error"]
    assert message["ai_response"] is None
    assert len(_requests_for(fake_llm, question)) == 3, "bounded: AI_MAX_ATTEMPTS tries, no more"


def test_a_model_that_refuses_fails_at_once(
    llm_api: httpx.Client, asker: User, fake_llm: FakeOpenAI
) -> None:
    chat_id = new_chat(llm_api, asker)
    question = _question("status:400")
    sent = ask(llm_api, asker, chat_id, question, wait=0).json()
    message = _settle(llm_api, asker, chat_id, sent["id"])
    assert message["status"] == "failed"
    assert "HTTP 400" in message["error"]
    assert len(_requests_for(fake_llm, question)) == 1, "a 400 is not retried"


def test_retry_of_a_failed_message_gets_it_answered(
    llm_api: httpx.Client, asker: User, fake_llm: FakeOpenAI
) -> None:
    chat_id = new_chat(llm_api, asker)
    question = _question("status:500x3")
    sent = ask(llm_api, asker, chat_id, question, wait=0).json()
    failed = _settle(llm_api, asker, chat_id, sent["id"])
    assert failed["status"] == "failed"
    url = f"/api/chats/{chat_id}/messages/{sent['id']}"
    retried = llm_api.post(f"{url}/retry", headers=asker.headers)
    assert retried.status_code == 202
    assert retried.json()["status"] == "pending"
    assert retried.json()["error"] is None
    message = _settle(llm_api, asker, chat_id, sent["id"])
    assert message["status"] == "sealed"
    assert message["ai_response"] == fake_llm.answer_for(question)
    assert llm_api.post(f"{url}/retry", headers=asker.headers).status_code == 409


def test_a_retried_message_is_sent_with_the_turns_before_it(
    llm_api: httpx.Client, asker: User, fake_llm: FakeOpenAI
) -> None:
    """The retry's ``message.created`` carries the chat's history as the first post's did:
    the sealed turns before the message, not the message itself nor anything after it."""
    chat_id = new_chat(llm_api, asker)
    first = ask(llm_api, asker, chat_id, _question()).json()
    question = _question("status:500x3")
    sent = ask(llm_api, asker, chat_id, question, wait=0).json()
    assert _settle(llm_api, asker, chat_id, sent["id"])["status"] == "failed"
    later = ask(llm_api, asker, chat_id, _question()).json()  # sealed after the failed one
    assert later["status"] == "sealed"
    url = f"/api/chats/{chat_id}/messages/{sent['id']}"
    assert llm_api.post(f"{url}/retry", headers=asker.headers).status_code == 202
    assert _settle(llm_api, asker, chat_id, sent["id"])["status"] == "sealed"
    retried = _requests_for(fake_llm, question)[-1]
    assert [(m["role"], m["content"]) for m in retried["messages"][1:]] == [
        ("user", first["user_input"]),
        ("assistant", first["ai_response"]),
        ("user", question),
    ]


def test_only_owner_or_admin_may_retry(
    llm_api: httpx.Client, asker: User, fake_llm: FakeOpenAI
) -> None:
    chat_id = new_chat(llm_api, asker)
    sent = ask(llm_api, asker, chat_id, _question("status:400"), wait=0).json()
    _settle(llm_api, asker, chat_id, sent["id"])
    admin_response = llm_api.post(
        "/api/auth/token", data={"username": "admin@example.com", "password": "Admin-password-1"}
    )
    admin_headers = {"Authorization": f"Bearer {admin_response.json()['access_token']}"}
    agent_body = {
        "email": f"agent-{uuid.uuid4().hex[:8]}@example.com",
        "password": "Agent-pass-12",
        "full_name": "Agent",
        "role": "agent",
    }
    llm_api.post("/api/users", json=agent_body, headers=admin_headers)
    agent_token = llm_api.post(
        "/api/auth/token",
        data={"username": agent_body["email"], "password": agent_body["password"]},
    ).json()["access_token"]
    url = f"/api/chats/{chat_id}/messages/{sent['id']}/retry"
    assert llm_api.post(url, headers={"Authorization": f"Bearer {agent_token}"}).status_code == 403
    assert llm_api.post(url, headers=sign_up(llm_api).headers).status_code == 404
    assert llm_api.post(url, headers=admin_headers).status_code == 202


def test_a_redelivered_event_for_an_answered_message_does_nothing(
    llm_api: httpx.Client, llm_stack: Stack, asker: User, fake_llm: FakeOpenAI
) -> None:
    """At least once delivery: the same ``message.created`` again changes nothing."""
    chat_id = new_chat(llm_api, asker)
    question = _question()
    message = ask(llm_api, asker, chat_id, question).json()
    assert message["status"] == "sealed"
    replay = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/test",
        "type": "support.message.created",
        "subject": message["id"],
        "time": "2026-11-23T00:00:00Z",
        "data": {
            "message": {**message, "status": "pending", "ai_response": None, "sealed_at": None},
            "user_id": asker.id,
            "recent_turns": [],
            "attempt": 1,
        },
    }

    async def publish_twice() -> None:
        connection = await aio_pika.connect_robust(llm_stack.infra.amqp_url)
        channel = await connection.channel()
        exchange = await channel.get_exchange(EVENTS_EXCHANGE)
        import json

        for _ in range(2):
            await exchange.publish(aio_pika.Message(json.dumps(replay).encode()), "message.created")
        await connection.close()

    asyncio.run(publish_twice())
    time.sleep(2)
    assert len(_requests_for(fake_llm, question)) == 1, "the model was not asked again"
    after = llm_api.get(
        f"/api/chats/{chat_id}/messages/{message['id']}", headers=asker.headers
    ).json()
    assert after == message
