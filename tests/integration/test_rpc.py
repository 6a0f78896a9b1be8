"""The RPC machinery on the real broker: concurrency, timeouts, expiry, outages."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import aio_pika
import pytest

from contracts.enums import ErrorCode
from contracts.rpc import Ping, Pong
from servicekit import bus
from servicekit.errors import NotFound
from servicekit.rpc_client import BrokerUnavailable, RemoteError, RpcClient, RpcTimeout
from servicekit.rpc_server import RpcServer
from servicekit.usecases import UseCases
from support.infra import Infra


class SlowEcho:
    """A service whose handler takes a while and counts how many requests overlap."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.seen = 0

    async def handle(self, command: Ping, _: object) -> Pong:
        self.seen += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.2)
        self.in_flight -= 1
        return Pong(service="echo", database=True)


@pytest.fixture
async def connection(infra: Infra) -> AsyncIterator[aio_pika.abc.AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(infra.amqp_url)
    yield connection
    await connection.close()


@pytest.fixture
async def client(infra: Infra) -> AsyncIterator[RpcClient]:
    client = RpcClient(infra.amqp_url, timeout=5, name="test")
    await client.start()
    await client.wait_connected(10)
    yield client
    await client.close()


async def _serve(
    connection: aio_pika.abc.AbstractRobustConnection, queue: str, handler: object
) -> RpcServer:
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=64)
    use_cases: UseCases[object] = UseCases()
    use_cases.serve(queue, Ping, handler)  # type: ignore[arg-type]
    server = RpcServer(channel, use_cases, lambda: None)
    await server.start()
    return server


async def test_one_client_keeps_many_calls_in_flight(
    connection: aio_pika.abc.AbstractRobustConnection, client: RpcClient
) -> None:
    echo, queue = SlowEcho(), f"test.echo.{uuid.uuid4().hex[:8]}"
    server = await _serve(connection, queue, echo.handle)
    replies = await asyncio.gather(*(client.request(queue, Ping()) for _ in range(32)))
    await server.stop()
    assert len(replies) == 32
    assert all(Pong.model_validate_json(r).service == "echo" for r in replies)
    assert echo.most_in_flight >= 16, "calls from one client must overlap, not queue up"


@pytest.fixture
def plain_amqp() -> Iterator[None]:
    """Publishes and acks through aio-pika's own API, as with ``AMQP_SHORTCUTS=false``."""
    bus.configure(shortcuts=False)
    try:
        yield
    finally:
        bus.configure(shortcuts=True)


async def test_without_the_shortcuts_calls_are_answered_and_acked(
    infra: Infra, plain_amqp: None
) -> None:
    connection = await aio_pika.connect_robust(infra.amqp_url)
    client = RpcClient(infra.amqp_url, timeout=5, name="test-plain")
    await client.start()
    await client.wait_connected(10)
    try:
        echo, queue = SlowEcho(), f"test.plain.{uuid.uuid4().hex[:8]}"
        server = await _serve(connection, queue, echo.handle)
        replies = await asyncio.gather(*(client.request(queue, Ping()) for _ in range(8)))
        await server.stop()
        assert [Pong.model_validate_json(r).service for r in replies] == ["echo"] * 8
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, durable=True, passive=True)
        assert declared.declaration_result.message_count == 0, "every request was acked"
    finally:
        await client.close()
        await connection.close()


async def test_domain_error_comes_back_typed(
    connection: aio_pika.abc.AbstractRobustConnection, client: RpcClient
) -> None:
    async def missing(command: Ping, _: object) -> Pong:
        raise NotFound("nothing here", item="x")

    queue = f"test.missing.{uuid.uuid4().hex[:8]}"
    server = await _serve(connection, queue, missing)
    with pytest.raises(RemoteError) as caught:
        await client.request(queue, Ping())
    await server.stop()
    assert caught.value.reply.code == ErrorCode.NOT_FOUND
    assert caught.value.reply.extra == {"item": "x"}


async def test_a_crashing_handler_still_answers(
    connection: aio_pika.abc.AbstractRobustConnection, client: RpcClient
) -> None:
    async def broken(command: Ping, _: object) -> Pong:
        raise ZeroDivisionError("bug")

    queue = f"test.broken.{uuid.uuid4().hex[:8]}"
    server = await _serve(connection, queue, broken)
    with pytest.raises(RemoteError) as caught:
        await client.request(queue, Ping(), timeout=3)
    await server.stop()
    assert caught.value.reply.code == ErrorCode.INTERNAL
    assert "bug" not in caught.value.reply.detail, "no internals leak to the caller"


async def test_unanswered_call_times_out_and_its_request_expires_unprocessed(
    connection: aio_pika.abc.AbstractRobustConnection, client: RpcClient
) -> None:
    queue = f"test.late.{uuid.uuid4().hex[:8]}"
    channel = await connection.channel()
    await channel.declare_queue(queue, durable=True)
    with pytest.raises(RpcTimeout):
        await client.request(queue, Ping(), timeout=0.3)
    await asyncio.sleep(0.3)
    echo = SlowEcho()
    server = await _serve(connection, queue, echo.handle)
    await asyncio.sleep(0.5)
    await server.stop()
    assert echo.seen == 0, "work nobody waits for any more is dropped, not done late"


async def test_unreachable_broker_fails_fast() -> None:
    client = RpcClient("amqp://guest:guest@127.0.0.1:1/", timeout=5, name="test")
    await client.start()
    async with asyncio.timeout(1):
        with pytest.raises(BrokerUnavailable):
            await client.request("users.get", Ping())
    await client.close()
