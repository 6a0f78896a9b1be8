"""Answer streams on the real broker, from a model that streams like a real one: a stream
opened at any moment gives the whole answer from its first word, in order, exactly once, then
the final state; a client that goes away disturbs no other; ``Last-Event-ID`` resumes; a broker
connection lost mid-answer loses no word and no final state."""

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from fakes.openai_server import FakeOpenAI, paced_answer
from support.api import User, new_chat, sign_up
from support.infra import infra_or_fail
from support.stack import Stack, run_stack

TOKENS = 40
PACE = f"[[fake:paced:0.3:30:{TOKENS}]]"
"""First token after 300 ms, then 30 a second: about 1.6 s an answer."""
ANSWER = paced_answer(TOKENS)


@pytest.fixture(scope="module")
def model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def paced(model: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A system whose AI worker streams from a fake model at a real model's pace."""
    with infra_or_fail() as infra:
        settings = {
            "OPENAI_API_KEY": "test-key",
            "OPENAI_BASE_URL": model.base_url,
            "AI_MODEL": "fake-model",
            "AI_TIMEOUT": "30",
            "RATE_LIMIT_MESSAGES": "1000/minute",
        }
        with run_stack(infra, tmp_path_factory.mktemp("paced"), **settings) as stack:
            yield stack


@pytest.fixture(scope="module")
def people(paced: Stack) -> list[tuple[User, str]]:
    """Ten customers, each with a chat."""
    with httpx.Client(base_url=paced.base_url, timeout=30) as api:
        users = [sign_up(api) for _ in range(10)]
        return [(user, new_chat(api, user)) for user in users]


@pytest.fixture
async def client(paced: Stack) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    async with httpx.AsyncClient(base_url=paced.base_url, timeout=60, limits=limits) as api:
        yield api


@dataclass
class Reading:
    """What a client read of one stream."""

    text: str = ""
    events: list[str] = field(default_factory=list)
    last_id: str | None = None
    final: dict[str, Any] | None = None


async def post(api: httpx.AsyncClient, user: User, chat_id: str) -> str:
    response = await api.post(
        f"/api/chats/{chat_id}/messages", json={"content": f"Tell me {PACE}"}, headers=user.headers
    )
    assert response.status_code == 202, response.text
    message_id: str = response.json()["id"]
    return message_id


async def read(
    api: httpx.AsyncClient,
    user: User,
    chat_id: str,
    message_id: str,
    *,
    stop_after_tokens: int | None = None,
    stop_at_final: bool = False,
    reading: Reading | None = None,
) -> Reading:
    """Follow a message's stream, checking that every delta follows what came before."""
    reading = reading or Reading()
    headers = dict(user.headers)
    if reading.last_id:
        headers["Last-Event-ID"] = reading.last_id
    path = f"/api/chats/{chat_id}/messages/{message_id}/stream"
    async with api.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200
        event, data, event_id = "message", "", None
        tokens = 0
        async for line in response.aiter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(": ")
                if name == "event":
                    event = value
                elif name == "data":
                    data = value
                elif name == "id":
                    event_id = value
                continue
            reading.events.append(event)
            body = json.loads(data)
            if event == "token":
                assert body["offset"] == len(reading.text), (reading.text, body)
                reading.text += body["delta"]
                tokens += 1
            elif event == "reset":
                reading.text = ""
            else:
                reading.final = body
            if event_id is not None:
                reading.last_id = event_id
            event, data, event_id = "message", "", None
            if reading.final is not None and stop_at_final:
                return reading
            if stop_after_tokens is not None and tokens >= stop_after_tokens:
                return reading
    return reading


def assert_whole(reading: Reading) -> None:
    assert reading.final is not None, reading.events
    assert reading.final["status"] == "sealed"
    assert reading.text == reading.final["ai_response"] == ANSWER
    assert reading.events[-1] == "sealed"
    assert "reset" not in reading.events


async def test_clients_that_go_away_disturb_no_other_stream(
    paced: Stack, model: FakeOpenAI, people: list[tuple[User, str]], client: httpx.AsyncClient
) -> None:
    """100 streams: 25 close mid-answer, 25 at the final state, 50 read to the end; the worker
    writes all the answers at once."""
    posted = [
        (user, chat_id, await post(client, user, chat_id))
        for user, chat_id in people
        for _ in range(10)
    ]
    readings = await asyncio.gather(
        *(
            read(
                client,
                user,
                chat_id,
                message_id,
                stop_after_tokens=3 if n % 4 == 0 else None,
                stop_at_final=n % 4 == 1,
            )
            for n, (user, chat_id, message_id) in enumerate(posted)
        )
    )
    readers = [r for n, r in enumerate(readings) if n % 4 >= 1]
    assert len(readers) == 75
    for reading in readers:
        assert_whole(reading)
    log = await asyncio.to_thread(Path(paced.log).read_text)
    assert "Unbind cancelled" not in log
    assert model.most_in_flight >= 90, "a model call waits on the network: the worker holds many"


async def test_a_stream_opened_at_any_moment_gives_the_whole_answer(
    people: list[tuple[User, str]], client: httpx.AsyncClient
) -> None:
    user, chat_id = people[0]
    message_id = await post(client, user, chat_id)
    early = asyncio.create_task(read(client, user, chat_id, message_id))
    await asyncio.sleep(0.8)  # words are being written
    middle = asyncio.create_task(read(client, user, chat_id, message_id))
    for reading in await asyncio.gather(early, middle):
        assert_whole(reading)
    assert_whole(await read(client, user, chat_id, message_id))  # after sealing


async def test_last_event_id_resumes_after_the_last_word_read(
    people: list[tuple[User, str]], client: httpx.AsyncClient
) -> None:
    user, chat_id = people[1]
    message_id = await post(client, user, chat_id)
    first = await read(client, user, chat_id, message_id, stop_after_tokens=3)
    assert first.final is None and first.last_id is not None
    had = first.text
    resumed = await read(client, user, chat_id, message_id, reading=first)
    assert_whole(resumed)
    assert resumed.text.startswith(had)


def _close_connections(stack: Stack) -> None:
    vhost = unquote(urlsplit(stack.infra.amqp_url).path.lstrip("/"))
    subprocess.run(
        ["rabbitmqctl", "-q", "close_all_connections", "--vhost", vhost, "--limit", "1000", "test"],
        check=True,
        capture_output=True,
        timeout=60,
    )


async def test_a_broker_connection_lost_mid_answer_loses_no_word(
    paced: Stack, people: list[tuple[User, str]], client: httpx.AsyncClient
) -> None:
    posted = [(user, chat_id, await post(client, user, chat_id)) for user, chat_id in people]
    readings = [
        asyncio.create_task(read(client, user, chat_id, message_id))
        for user, chat_id, message_id in posted
    ]
    await asyncio.sleep(0.7)
    await asyncio.to_thread(_close_connections, paced)
    for reading in await asyncio.gather(*readings):
        assert reading.final is not None, reading.events
        assert reading.text == reading.final["ai_response"] == ANSWER
