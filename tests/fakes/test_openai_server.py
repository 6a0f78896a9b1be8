"""The fake OpenAI server, driven by the real ``openai`` client over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import openai
import pytest
from openai import OpenAI

from fakes.openai_server import FakeOpenAI


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def client(server: FakeOpenAI) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.base_url, api_key="test", max_retries=0) as oai:
        yield oai


def ask(client: OpenAI, text: str, **kwargs: Any) -> str:
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": text}],
        **kwargs,
    )
    return reply.choices[0].message.content or ""


def unique(text: str) -> str:
    """Counters are per message text: a fresh text keeps tests independent."""
    return f"{text} ({uuid.uuid4().hex[:8]})"


def test_answer_echoes_the_last_user_message(client: OpenAI) -> None:
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": "How do I reset my password?"},
        ],
    )
    assert reply.choices[0].message.content == (
        "Answer to: How do I reset my password?. Sources: [1]"
    )
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert reply.usage.completion_tokens > 0


def test_stream_chunks_add_up_to_the_plain_answer(client: OpenAI) -> None:
    text = "Where is my order number 42?"
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": text}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) > 3
    assert "".join(pieces) == ask(client, text)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].choices == []  # the usage chunk
    assert chunks[-1].usage is not None


def test_fixed_answer_overrides_the_echo(server: FakeOpenAI, client: OpenAI) -> None:
    server.answer = "fixed text"
    try:
        assert ask(client, "anything") == "fixed text"
    finally:
        server.answer = None


def test_status_429_is_a_rate_limit_error(client: OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client, "hello [[fake:status:429]]")
    assert caught.value.response.headers["retry-after"] == "0"
    assert caught.value.code == "rate_limit_exceeded"


def test_status_500_is_an_internal_server_error(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError):
        ask(client, "hello [[fake:status:500]]")


def test_counted_failures_are_per_message_text(client: OpenAI) -> None:
    text = unique("flaky [[fake:status:500x2]]")
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            ask(client, text)
    assert ask(client, text).startswith("Answer to: flaky")
    with pytest.raises(openai.InternalServerError):  # another text has its own count
        ask(client, unique("flaky [[fake:status:500x2]]"))


def test_server_wide_default_behaviour(server: FakeOpenAI, client: OpenAI) -> None:
    server.behaviour = "status:503"
    try:
        with pytest.raises(openai.InternalServerError):
            ask(client, "hello")
        assert ask(client, "hello [[fake:normal]]") == "Answer to: hello. Sources: [1]"
    finally:
        server.behaviour = "normal"


def test_drop_while_streaming_is_a_connection_error(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "a long enough question [[fake:drop]]"}],
        stream=True,
    )
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError) as caught:
        received.extend(chunk.choices[0].delta.content or "" for chunk in stream)
    assert type(caught.value) is openai.APIConnectionError
    assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)
    assert "".join(received) == "Answer to: "  # the first chunks did arrive


def test_drop_without_streaming_is_a_connection_error(client: OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError):
        ask(client, "hello [[fake:drop]]")


def test_dropx1_drops_once_then_answers(client: OpenAI) -> None:
    text = unique("again [[fake:dropx1]]")
    with pytest.raises(openai.APIConnectionError):
        ask(client, text)
    assert ask(client, text).startswith("Answer to: again")


def test_slow_answer_times_out(client: OpenAI) -> None:
    with pytest.raises(openai.APITimeoutError):
        ask(client, "hello [[fake:slow:2]]", timeout=0.3)


def test_requests_are_recorded(server: FakeOpenAI, client: OpenAI) -> None:
    server.reset()
    ask(client, "recorded?", temperature=0)
    assert [m.id for m in client.models.list()] == ["gpt-4o-mini", "fake-model"]
    chat, models = server.requests
    assert (chat.method, chat.path, models.path) == ("POST", "/v1/chat/completions", "/v1/models")
    assert chat.body["messages"] == [{"role": "user", "content": "recorded?"}]
    assert chat.body["temperature"] == 0
    assert chat.headers["authorization"] == "Bearer test"
    server.clear()
    assert server.requests == []


def test_missing_api_key_is_a_401(server: FakeOpenAI) -> None:
    reply = httpx.post(f"{server.base_url}/chat/completions", json={"messages": []})
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "invalid_api_key"
