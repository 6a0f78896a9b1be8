"""Load the system while something breaks, then count what came out the other end.

A burst is what many clients do at once: post a message (with an ``Idempotency-Key``, so a
retry after an error cannot make a second one) and file a ticket on it, retrying through
errors the way a real client would. Afterwards the database and a durable tap on
``support.events`` say whether anything was lost or done twice.
"""

import asyncio
import itertools
import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import asyncpg
import httpx

from contracts.names import EVENTS_EXCHANGE
from support.api import User

RETRY_ON = {429, 500, 502, 503, 504}


@dataclass
class Job:
    key: str
    content: str
    user: User
    chat_id: str
    message_id: str | None = None
    ticket_id: str | None = None
    retries: int = 0


@dataclass
class Report:
    fault: str
    sent: int = 0
    sealed: int = 0
    failed: int = 0
    pending: int = 0
    lost: int = 0
    duplicated: int = 0
    tickets: int = 0
    events_published: int = 0
    events_received: int = 0
    client_retries: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def row(self) -> str:
        return (
            f"{self.fault:<32} {self.sent:>5} {self.sealed:>6} {self.failed:>6} {self.lost:>4}"
            f" {self.duplicated:>4} {self.tickets:>7} {self.events_published:>6}"
            f" {self.events_received:>6} {self.client_retries:>7} {self.seconds:>6.1f}"
        )

    HEADER = (
        f"{'fault':<32} {'sent':>5} {'sealed':>6} {'failed':>6} {'lost':>4} {'dup':>4}"
        f" {'tickets':>7} {'ev.pub':>6} {'ev.rcv':>6} {'retries':>7} {'secs':>6}"
    )


async def _with_retries(
    send: Callable[[], Awaitable[httpx.Response]], job: Job, done: set[int], deadline: float
) -> httpx.Response:
    delay = 0.1
    while True:
        try:
            response = await send()
            if response.status_code in done:
                return response
            if response.status_code not in RETRY_ON:
                raise AssertionError(f"unexpected {response.status_code}: {response.text[:300]}")
        except httpx.TransportError:
            pass  # the gateway is down or restarting: a client retries
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job.key} gave up after retrying until the deadline")
        job.retries += 1
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


async def _run_job(client: httpx.AsyncClient, job: Job, deadline: float) -> None:
    posted = await _with_retries(
        lambda: client.post(
            f"/api/chats/{job.chat_id}/messages",
            json={"content": job.content},
            headers={**job.user.headers, "Idempotency-Key": job.key},
        ),
        job,
        {202},
        deadline,
    )
    job.message_id = posted.json()["id"]
    filed = await _with_retries(
        lambda: client.post(
            "/api/tickets",
            json={"message_id": job.message_id, "issue_type": "incorrect_answer"},
            headers=job.user.headers,
        ),
        job,
        {201, 409},
        deadline,
    )
    body = filed.json()
    job.ticket_id = body["id"] if filed.status_code == 201 else body["ticket_id"]


def default_content(i: int) -> str:
    return f"How do I export my data? #{i}"


async def burst(
    base_url: str,
    users: list[tuple[User, str]],
    size: int,
    *,
    content: Callable[[int], str] | None = None,
    concurrency: int = 24,
    fault: Callable[[], Coroutine[Any, Any, None]] | None = None,
    deadline_seconds: float = 180,
) -> list[Job]:
    """``size`` jobs over ``users`` (each with a chat), ``concurrency`` at a time, while
    ``fault`` runs alongside."""
    run_id = uuid.uuid4().hex[:8]
    cycle = itertools.cycle(users)
    write = content or default_content
    jobs = [Job(f"{run_id}-{i}", write(i), *next(cycle)) for i in range(size)]
    deadline = time.monotonic() + deadline_seconds
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:

        async def one(job: Job) -> None:
            async with gate:
                await _run_job(client, job, deadline)

        work = [asyncio.create_task(one(job)) for job in jobs]
        if fault is not None:
            work.append(asyncio.create_task(fault()))
        await asyncio.gather(*work)
    return jobs


class EventTap:
    """A durable queue on ``support.events`` (it survives a broker restart), read at the end."""

    def __init__(self, amqp_url: str) -> None:
        self.url = amqp_url
        self.name = f"faults.tap.{uuid.uuid4().hex[:8]}"

    async def __aenter__(self) -> "EventTap":
        connection = await aio_pika.connect(self.url)
        channel = await connection.channel()
        queue = await channel.declare_queue(self.name, durable=True)
        for key in ("message.#", "ticket.#", "user.#", "chat.#"):
            await queue.bind(EVENTS_EXCHANGE, routing_key=key)
        await connection.close()
        return self

    async def drain(self) -> list[dict[str, Any]]:
        """Every event delivered so far (and forget them)."""
        connection = await aio_pika.connect(self.url)
        channel = await connection.channel()
        queue = await channel.declare_queue(self.name, durable=True)
        events = []
        while (message := await queue.get(fail=False, no_ack=True)) is not None:
            events.append(json.loads(message.body))
        await connection.close()
        return events

    async def __aexit__(self, *_: object) -> None:
        connection = await aio_pika.connect(self.url)
        channel = await connection.channel()
        await channel.queue_delete(self.name)
        await connection.close()


async def wait_quiet(dsn: str, message_ids: list[str], timeout: float = 120) -> None:
    """Until no message of the burst is pending and every outbox is empty."""
    ids = [uuid.UUID(m) for m in message_ids]
    connection = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                pending = await connection.fetchval(
                    "SELECT count(*) FROM chat.messages WHERE id = ANY($1) AND status = 'pending'",
                    ids,
                )
                backlog = await connection.fetchval(
                    "SELECT (SELECT count(*) FROM chat.outbox)"
                    " + (SELECT count(*) FROM tickets.outbox) + (SELECT count(*) FROM users.outbox)"
                )
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                connection = await asyncpg.connect(dsn)
                continue
            if pending == 0 and backlog == 0:
                return
            await asyncio.sleep(0.3)
    finally:
        await connection.close()


async def account(fault: str, dsn: str, jobs: list[Job], events: list[dict[str, Any]]) -> Report:
    """What the database and the events say about a burst."""
    report = Report(fault=fault, sent=len(jobs), client_retries=sum(j.retries for j in jobs))
    keys = [j.key for j in jobs]
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT idempotency_key, id, status FROM chat.messages WHERE idempotency_key = ANY($1)",
            keys,
        )
        tickets = await connection.fetch(
            "SELECT message_id, count(*) AS n FROM tickets.tickets WHERE message_id = ANY($1)"
            " GROUP BY message_id",
            [r["id"] for r in rows],
        )
    finally:
        await connection.close()
    per_key = Counter(r["idempotency_key"] for r in rows)
    statuses = Counter(r["status"] for r in rows)
    report.sealed, report.failed, report.pending = (
        statuses["sealed"],
        statuses["failed"],
        statuses["pending"],
    )
    ticket_count = {str(t["message_id"]): t["n"] for t in tickets}
    report.tickets = sum(ticket_count.values())
    report.lost = len(set(keys) - set(per_key)) + sum(
        1 for r in rows if str(r["id"]) not in ticket_count
    )
    report.duplicated = sum(n - 1 for n in per_key.values() if n > 1) + sum(
        n - 1 for n in ticket_count.values() if n > 1
    )
    mine = {str(r["id"]) for r in rows} | {str(t) for j in jobs if (t := j.ticket_id) is not None}
    relevant = [e for e in events if e.get("subject") in mine]
    report.events_received = len(relevant)
    report.events_published = len({e["id"] for e in relevant})
    distinct: dict[tuple[str, str], set[str]] = defaultdict(set)
    for event in relevant:
        distinct[(event["type"], event["subject"])].add(event["id"])
    doubled = [k for k, ids in distinct.items() if len(ids) > 1 and k[0] in ONCE_ONLY]
    report.duplicated += len(doubled)
    missing_sealed = [
        m
        for m in (str(r["id"]) for r in rows if r["status"] == "sealed")
        if not distinct.get(("support.message.sealed", m))
    ]
    missing_tickets = [
        t
        for t in (j.ticket_id for j in jobs)
        if t and not distinct.get(("support.ticket.created", t))
    ]
    report.lost += len(missing_sealed) + len(missing_tickets)
    if missing_sealed or missing_tickets:
        report.notes.append(
            f"events missing: {len(missing_sealed)} sealed, {len(missing_tickets)} created"
        )
    return report


ONCE_ONLY = {"support.message.sealed", "support.ticket.created"}
"""Events that happen at most once per subject (a message is sealed once; filed once)."""
