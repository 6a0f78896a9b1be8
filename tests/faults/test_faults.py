"""Break things under load; nothing is lost, nothing is done twice, clients get clear answers.

Every scenario runs a burst of messages with tickets while a fault happens, waits for the
system to settle, then checks the database and the events: every message present once and
sealed, every ticket present once, every ``sealed`` and ``ticket.created`` event present
(published once; a redelivery of the same id is allowed, that is what ids are for).
"""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import aio_pika
import httpx
import pytest
from faults.conftest import BURST
from faults.harness import EventTap, Job, Report, account, burst, default_content, wait_quiet

from contracts.names import EVENTS_EXCHANGE
from deploy.local import PROCESSES
from fakes.openai_server import FakeOpenAI
from support.api import User, assert_problem
from support.stack import Stack

Fault = Callable[[], Coroutine[Any, Any, None]]


def scenario(
    name: str,
    stack: Stack,
    clients: list[tuple[User, str]],
    fault: Fault | None,
    *,
    size: int = BURST,
    content: Callable[[int], str] | None = None,
) -> tuple[Report, list[Job]]:
    async def go() -> tuple[Report, list[Job]]:
        started = time.monotonic()
        async with EventTap(stack.infra.amqp_url) as tap:
            jobs = await burst(
                stack.base_url, clients, size, fault=fault, content=content or default_content
            )
            await wait_quiet(stack.infra.dsn, [j.message_id for j in jobs if j.message_id])
            await asyncio.sleep(1)  # the last events reach the tap
            report = await account(name, stack.infra.dsn, jobs, await tap.drain())
        report.seconds = time.monotonic() - started
        return report, jobs

    return asyncio.run(go())


def assert_nothing_lost(report: Report, *, all_sealed: bool = True) -> None:
    assert report.lost == 0, report
    assert report.duplicated == 0, report
    assert report.pending == 0, report
    assert report.tickets == report.sent, report
    if all_sealed:
        assert report.sealed == report.sent, report


def kill_after(stack: Stack, module: str, sig: signal.Signals, delay: float = 1.0) -> Fault:
    async def fault() -> None:
        await asyncio.sleep(delay)
        os.kill(stack.service_pid(module), sig)

    return fault


@pytest.mark.parametrize(
    "module", ["gateway", "users_service", "chat_service", "ticket_service", "ai_worker"]
)
def test_kill_9_during_a_burst(
    fault_stack: Stack, clients: list[tuple[User, str]], record: list[Report], module: str
) -> None:
    """kill -9 mid-burst (a service's outbox relay runs in its process: it dies with it)."""
    before = fault_stack.service_pid(module)
    report, _ = scenario(
        f"kill -9 {module}", fault_stack, clients, kill_after(fault_stack, module, signal.SIGKILL)
    )
    record.append(report)
    assert fault_stack.service_pid(module) != before, "the supervisor started it again"
    assert_nothing_lost(report)


@pytest.mark.parametrize("module", ["chat_service", "ai_worker", "gateway"])
def test_sigterm_during_a_burst_finishes_in_flight_work(
    fault_stack: Stack, clients: list[tuple[User, str]], record: list[Report], module: str
) -> None:
    before = fault_stack.service_pid(module)
    report, _ = scenario(
        f"SIGTERM {module}", fault_stack, clients, kill_after(fault_stack, module, signal.SIGTERM)
    )
    record.append(report)
    assert fault_stack.service_pid(module) != before
    # A clean stop: it finished its work and exited 0, rather than dying of the signal.
    assert f"{_name(module)} exited with code 0" in fault_stack.log.read_text()
    assert_nothing_lost(report)


def _name(module: str) -> str:
    """The supervisor's name for the process running ``module``."""
    return {module: name for name, module in PROCESSES}[module]


def _ctl(*command: str) -> None:
    if shutil.which(command[0]) is None:
        pytest.fail(f"this fault needs {command[0]} to control the local service", pytrace=False)
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def test_broker_stopped_and_started_mid_burst(
    fault_stack: Stack, clients: list[tuple[User, str]], record: list[Report]
) -> None:
    """Services reconnect and consume again by themselves; outboxes drain; nothing lost."""

    async def outage() -> None:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(_ctl, "rabbitmqctl", "stop_app")
        await asyncio.sleep(3)
        await asyncio.to_thread(_ctl, "rabbitmqctl", "start_app")

    pids = {m: fault_stack.service_pid(m) for m in ("gateway", "chat_service", "ai_worker")}
    report, _ = scenario("rabbitmq stop_app/start_app", fault_stack, clients, outage)
    record.append(report)
    assert {m: fault_stack.service_pid(m) for m in pids} == pids, "recovered without a restart"
    assert_nothing_lost(report)


def test_postgres_stopped_briefly(
    fault_stack: Stack, clients: list[tuple[User, str]], record: list[Report]
) -> None:
    """During the outage the gateway answers 503 problems (not 500, not a hang); after, it
    recovers by itself and nothing sent across the outage is lost."""
    user = clients[0][0]
    cluster = (
        (os.listdir("/etc/postgresql") or ["15"])[0] if os.path.isdir("/etc/postgresql") else "15"
    )
    during: list[httpx.Response] = []

    async def outage() -> None:
        await asyncio.sleep(1.0)
        await asyncio.to_thread(
            _ctl,
            "pg_ctlcluster",
            "--skip-systemctl-redirect",
            cluster,
            "main",
            "stop",
            "-m",
            "fast",
        )
        try:
            async with httpx.AsyncClient(base_url=fault_stack.base_url, timeout=15) as api:
                for _ in range(3):
                    started = time.monotonic()
                    during.append(await api.get("/api/users/me", headers=user.headers))
                    assert time.monotonic() - started < 10, "an answer, not a hang"
                    await asyncio.sleep(0.5)
        finally:
            await asyncio.to_thread(
                _ctl, "pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "start"
            )

    report, _ = scenario("postgres stopped ~3s", fault_stack, clients, outage)
    record.append(report)
    assert during
    for response in during:
        assert_problem(response, 503, "service_unavailable")
    with httpx.Client(base_url=fault_stack.base_url, timeout=15) as api:
        assert api.get("/api/users/me", headers=user.headers).status_code == 200
    assert_nothing_lost(report)


MARKERS = ["status:429x1", "status:500x2", "dropx1", "slow:0.3", "status:500x3", "normal"]


def test_llm_slow_failing_or_dropping(
    fault_stack: Stack, clients: list[tuple[User, str]], record: list[Report], fault_llm: FakeOpenAI
) -> None:
    """Bounded retries, then failed; retry works; nothing stuck pending."""
    tag = uuid.uuid4().hex[:6]
    size = 120
    report, jobs = scenario(
        "LLM 429/500/drop/slow",
        fault_stack,
        clients,
        None,
        size=size,
        content=lambda i: (
            f"How do I reset my password? {tag}-{i} [[fake:{MARKERS[i % len(MARKERS)]}]]"
        ),
    )
    hopeless = [j for j in jobs if "status:500x3" in j.content]
    failures = Counter(asyncio.run(_failures(fault_stack, jobs)))
    assert report.failed == len(hopeless), f"{report}\n" + "\n".join(
        f"{n} x {marker} {error}" for (marker, error), n in failures.items()
    )
    assert report.sealed == size - len(hopeless), report
    with httpx.Client(base_url=fault_stack.base_url, timeout=30) as api:
        for job in hopeless:
            url = f"/api/chats/{job.chat_id}/messages/{job.message_id}/retry"
            assert api.post(url, headers=job.user.headers).status_code == 202
    asyncio.run(wait_quiet(fault_stack.infra.dsn, [j.message_id for j in hopeless if j.message_id]))
    after = asyncio.run(account("LLM faults, after retry", fault_stack.infra.dsn, jobs, []))
    report.notes.append(
        f"after retrying the {len(hopeless)} failed: sealed {after.sealed}, failed {after.failed}"
    )
    record.append(report)
    assert (after.sealed, after.failed, after.pending) == (size, 0, 0)
    attempts = [r for r in fault_llm.requests if tag in r.body["messages"][-1]["content"]]
    assert len(attempts) <= size * 4, "retries are bounded"


async def _failures(stack: Stack, jobs: list[Job]) -> list[tuple[str, str]]:
    """The marker and error of every failed message of a burst (to explain a failure)."""
    import asyncpg

    markers = {j.message_id: j.content.rsplit("[[", 1)[-1] for j in jobs if j.message_id}
    connection = await asyncpg.connect(stack.infra.dsn)
    try:
        rows = await connection.fetch(
            "SELECT id::text, error FROM chat.messages WHERE id = ANY($1::uuid[])"
            " AND status = 'failed'",
            list(markers),
        )
    finally:
        await connection.close()
    return [(markers[r["id"]], r["error"]) for r in rows]


async def _publish_raw(amqp_url: str, queue: str, body: bytes, **properties: object) -> None:
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    await channel.default_exchange.publish(aio_pika.Message(body, **properties), routing_key=queue)  # type: ignore[arg-type]
    await connection.close()


async def _depth(amqp_url: str, queue: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    declared = await channel.declare_queue(queue, passive=True)
    await connection.close()
    return int(declared.declaration_result.message_count or 0)


EVENT_QUEUES = ["chat.user-deleted", "tickets.user-deleted", "ai.message-created"]


def test_poison_messages_are_dead_lettered_and_consumers_go_on(
    fault_stack: Stack, clients: list[tuple[User, str]], record: list[Report]
) -> None:
    url = fault_stack.infra.amqp_url
    not_json = b"\xff\xfe not even json"
    bad_data = json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/test",
            "type": "support.user.deleted",
            "time": "2026-11-23T00:00:00Z",
            "data": {"user_id": "not-a-uuid", "hard": "maybe"},
        }
    ).encode()
    before = {q: asyncio.run(_depth(url, f"{q}.dlq")) for q in EVENT_QUEUES}
    for queue in EVENT_QUEUES:
        asyncio.run(_publish_raw(url, queue, not_json))
        asyncio.run(_publish_raw(url, queue, bad_data))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        after = {q: asyncio.run(_depth(url, f"{q}.dlq")) for q in EVENT_QUEUES}
        if all(after[q] - before[q] == 2 for q in EVENT_QUEUES):
            break
        time.sleep(0.5)
    assert {q: after[q] - before[q] for q in EVENT_QUEUES} == dict.fromkeys(EVENT_QUEUES, 2)
    for queue in EVENT_QUEUES:
        assert asyncio.run(_depth(url, queue)) == 0, f"{queue} is not stuck on a poison message"
    # RPC queues: a poison command gets a typed error reply, and the service goes on answering.
    with httpx.Client(base_url=fault_stack.base_url, timeout=15) as api:
        for queue in ("users.get", "chat.message.add", "tickets.create"):
            asyncio.run(
                _publish_raw(url, queue, not_json, reply_to="amq.rabbitmq.reply-to.nowhere")
            )
        assert api.get("/api/ready").status_code == 200
    report, _ = scenario("after poison messages", fault_stack, clients, None, size=50)
    report.notes.append("3 event queues x 2 poison messages: all dead-lettered, queues empty")
    record.append(report)
    assert_nothing_lost(report)


def test_every_event_delivered_twice_changes_nothing(
    fault_stack: Stack, clients: list[tuple[User, str]], record: list[Report], fault_llm: FakeOpenAI
) -> None:
    """Replay one event of every type, twice each, with its own id: no effect happens twice."""

    async def go() -> tuple[list[dict[str, object]], dict[str, int], dict[str, int], int]:
        async with EventTap(fault_stack.infra.amqp_url) as tap:
            await asyncio.to_thread(_one_of_each, fault_stack, clients[1])
            await asyncio.sleep(2)
            events = await tap.drain()
            by_type = {e["type"]: e for e in events}
            counts = await _counts(fault_stack.infra.dsn)
            llm_calls = len(fault_llm.requests)
            connection = await aio_pika.connect(fault_stack.infra.amqp_url)
            channel = await connection.channel()
            exchange = await channel.get_exchange(EVENTS_EXCHANGE)
            for event in by_type.values():
                for _ in range(2):
                    await exchange.publish(
                        aio_pika.Message(json.dumps(event).encode(), message_id=event["id"]),
                        routing_key=event["type"].removeprefix("support."),
                    )
            await connection.close()
            await asyncio.sleep(3)
            return list(by_type.values()), counts, await _counts(fault_stack.infra.dsn), llm_calls

    replayed, before, after, llm_before = asyncio.run(go())
    types = sorted(str(e["type"]) for e in replayed)
    report = Report(fault="every event type delivered twice", sent=len(types) * 2)
    report.notes.append("types: " + ", ".join(t.removeprefix("support.") for t in types))
    report.notes.append(
        f"rows before {before} after {after}; LLM calls {llm_before} -> {len(fault_llm.requests)}"
    )
    record.append(report)
    assert len(types) >= 10, types
    assert after == before
    assert len(fault_llm.requests) == llm_before, "no message answered twice"
    for queue in EVENT_QUEUES:
        assert asyncio.run(_depth(fault_stack.infra.amqp_url, queue)) == 0


def _one_of_each(stack: Stack, client: tuple[User, str]) -> None:
    """Cause one event of every type: a user's life, a chat, a message, a ticket's changes."""
    with httpx.Client(base_url=stack.base_url, timeout=30) as api:
        user, chat_id = client
        admin = api.post(
            "/api/auth/token",
            data={"username": "admin@example.com", "password": "Admin-password-1"},
        ).json()
        admin_headers = {"Authorization": f"Bearer {admin['access_token']}"}
        doomed = api.post(
            "/api/users",
            json={
                "email": f"doomed-{uuid.uuid4().hex[:6]}@example.com",
                "password": "Doomed-pass-1",
                "full_name": "D",
            },
        ).json()
        api.patch(
            f"/api/users/{doomed['id']}",
            json={"full_name": "Doomed"},
            headers=admin_headers,
        )
        api.delete(f"/api/users/{doomed['id']}?hard=true", headers=admin_headers)
        message = api.post(
            f"/api/chats/{chat_id}/messages?wait=10",
            json={"content": "replay me"},
            headers=user.headers,
        ).json()
        ticket = api.post(
            "/api/tickets",
            json={"message_id": message["id"], "issue_type": "other"},
            headers=user.headers,
        ).json()
        api.patch(
            f"/api/tickets/{ticket['id']}",
            json={"status": "in_progress", "priority": "high"},
            headers=admin_headers,
        )
        api.post("/api/chats", headers=user.headers)


async def _counts(dsn: str) -> dict[str, int]:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        return {
            name: int(await connection.fetchval(sql))
            for name, sql in {
                "users": "SELECT count(*) FROM users.users",
                "chats": "SELECT count(*) FROM chat.chats",
                "sealed": "SELECT count(*) FROM chat.messages WHERE status = 'sealed'",
                "messages": "SELECT count(*) FROM chat.messages",
                "tickets": "SELECT count(*) FROM tickets.tickets",
                "history": "SELECT count(*) FROM tickets.ticket_history",
            }.items()
        }
    finally:
        await connection.close()
