"""The outbox relay on real Postgres and RabbitMQ: a commit of its own process wakes it, its poll
finds rows written elsewhere, and events leave in the order they were written."""

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractQueue, AbstractRobustConnection

from contracts.events import CloudEvent, UserDeleted
from contracts.names import EVENTS_EXCHANGE
from servicekit.bus import Publisher, declare_exchanges
from servicekit.db import make_engine, make_sessions
from servicekit.migrations import upgrade_all
from servicekit.outbox import OutboxRelay, record_event
from support.infra import Infra, infra_or_fail
from users_service.schema import outbox

EVENT_TYPE = "support.user.deleted"
POLL_NEVER = 60.0
"""A poll far longer than any wait here: what arrives came because the relay was woken."""


@pytest.fixture(scope="module")
def fresh() -> Iterator[Infra]:
    """A database and vhost of their own: no other relay drains this outbox."""
    with infra_or_fail() as infra:
        upgrade_all(infra.database_url)
        yield infra


@dataclass
class Relaying:
    events: AbstractQueue

    async def received(self, subjects: list[uuid.UUID], within: float) -> list[CloudEvent]:
        """The events about ``subjects``, in the order they came. (An earlier test's relay,
        cancelled between a publish and its commit, may leave a row that comes again: ignored.)"""
        wanted, got = {str(subject) for subject in subjects}, []
        async with asyncio.timeout(within), self.events.iterator() as messages:
            async for message in messages:
                await message.ack()
                event = CloudEvent.model_validate_json(message.body)
                if event.subject in wanted:
                    got.append(event)
                if len(got) == len(wanted):
                    return got
        return got


@contextlib.asynccontextmanager
async def relaying(infra: Infra, poll: float) -> AsyncIterator[Relaying]:
    connection: AbstractRobustConnection = await aio_pika.connect_robust(infra.amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    await declare_exchanges(channel)
    events = await channel.declare_queue(exclusive=True)
    await events.bind(EVENTS_EXCHANGE, routing_key="#")
    relay = OutboxRelay(
        infra.dsn,
        "users",
        Publisher(channel, EVENTS_EXCHANGE),
        source="/test",
        poll=poll,
    )
    task = asyncio.create_task(relay.run())
    try:
        yield Relaying(events)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await connection.close()


async def _commit_events(infra: Infra, users: list[uuid.UUID]) -> None:
    """Record one event per user in one transaction of a service session, and commit."""
    engine = make_engine(infra.database_url, pool_size=1, application_name="test")
    try:
        async with make_sessions(engine).begin() as session:
            for user_id in users:
                data = UserDeleted(user_id=user_id, hard=False)
                await record_event(session, outbox, EVENT_TYPE, user_id, data)
    finally:
        await engine.dispose()


async def test_a_commit_wakes_the_relay_of_its_process(fresh: Infra) -> None:
    async with relaying(fresh, poll=POLL_NEVER) as relay:
        await asyncio.sleep(0.5)  # the relay is connected and waiting
        user_id, started = uuid.uuid4(), time.monotonic()
        await _commit_events(fresh, [user_id])
        (event,) = await relay.received([user_id], within=10)
    assert event.subject == str(user_id)
    assert time.monotonic() - started < POLL_NEVER / 2


async def test_rows_written_elsewhere_are_found_by_the_poll(fresh: Infra) -> None:
    """Rows this process did not commit (another replica's, or a process that died)."""
    async with relaying(fresh, poll=0.3) as relay:
        await asyncio.sleep(0.5)
        user_id = uuid.uuid4()
        connection = await asyncpg.connect(fresh.dsn)
        try:
            await connection.execute(
                "INSERT INTO users.outbox (id, type, subject, data) VALUES ($1, $2, $3, $4)",
                uuid.uuid4(),
                EVENT_TYPE,
                str(user_id),
                UserDeleted(user_id=user_id, hard=True).model_dump_json(),
            )
        finally:
            await connection.close()
        (event,) = await relay.received([user_id], within=10)
    assert event.subject == str(user_id)
    assert UserDeleted.model_validate(event.data).hard


async def test_events_leave_in_the_order_they_were_written(fresh: Infra) -> None:
    users = [uuid.uuid4() for _ in range(120)]
    async with relaying(fresh, poll=POLL_NEVER) as relay:
        await asyncio.sleep(0.5)
        await _commit_events(fresh, users[:60])
        await _commit_events(fresh, users[60:])
        events = await relay.received(users, within=20)
    assert [event.subject for event in events] == [str(user) for user in users]
    connection = await asyncpg.connect(fresh.dsn)
    try:
        assert await connection.fetchval("SELECT count(*) FROM users.outbox") == 0
    finally:
        await connection.close()
