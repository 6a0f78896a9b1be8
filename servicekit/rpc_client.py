"""Calling commands with many requests in flight at once.

FastStream 0.7's ``broker.request()`` holds one lock per broker, so a process's calls run one at
a time (FastStream issue #1318), and its timeout defaults to none. This client keeps its own
exclusive reply queue and a map from correlation id to a waiting future instead: any number of
calls share one channel, each bounded by a timeout that also rides on the request as its AMQP
``expiration``, so a request nobody waits for any more is dropped rather than done late.
"""

import asyncio
import logging
import time
import uuid
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from opentelemetry.trace import SpanKind
from pydantic import BaseModel

from contracts.base import Command
from contracts.rpc import DEADLINE_HEADER, REPLY_ERROR, ErrorReply
from servicekit import tracing
from servicekit.bus import NOT_PERSISTENT, Properties, Publisher, connect
from servicekit.metrics import RPC_CALLS
from servicekit.tracing import OFF, Tracing

log = logging.getLogger(__name__)


class RpcError(Exception):
    """A call that produced no result."""


class RpcTimeout(RpcError):
    """No reply within the timeout."""


class BrokerUnavailable(RpcError):
    """The broker cannot be reached."""


class RemoteError(RpcError):
    """The service answered with a typed error."""

    def __init__(self, reply: ErrorReply) -> None:
        super().__init__(f"{reply.code}: {reply.detail}")
        self.reply = reply


class RpcClient:
    """A process-wide client: ``await start()`` once, then ``await call(...)`` from any task."""

    def __init__(self, url: str, *, timeout: float, name: str, spans: Tracing = OFF) -> None:
        self._url = url
        self._spans = spans
        self._timeout = timeout
        self._name = name
        self._reply_queue = f"rpc.replies.{name}.{uuid.uuid4().hex[:12]}"
        self._pending: dict[str, asyncio.Future[tuple[str | None, bytes]]] = {}
        self._connection: AbstractRobustConnection | None = None
        self._requests: Publisher | None = None
        self._connector: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect in the background: until the broker answers, calls fail fast with 503."""
        self._connector = asyncio.create_task(self._connect())

    async def _connect(self) -> None:
        connection = await connect(self._url, name=f"{self._name}-rpc")
        channel = await connection.channel(publisher_confirms=False)
        queue = await channel.declare_queue(self._reply_queue, exclusive=True, auto_delete=True)
        await queue.consume(self._on_reply, no_ack=True)
        self._connection, self._requests = connection, Publisher(channel)
        log.info("rpc client connected, replies on %s", self._reply_queue)

    @property
    def connected(self) -> bool:
        return self._connection is not None and self._connection.connected.is_set()

    async def wait_connected(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not self.connected:  # noqa: ASYNC110 (no event spans the first connect)
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
        for future in self._pending.values():
            future.cancel()
        if self._connection is not None:
            await self._connection.close()

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._pending.get(message.correlation_id or "")
        if future is not None and not future.done():
            future.set_result((message.type, message.body))

    async def call(self, command: Command, *, timeout: float | None = None) -> bytes:
        """Send a command to its queue and return the raw JSON of its result; raise
        ``RpcError`` otherwise."""
        return await self.request(type(command).queue, command, timeout=timeout)

    async def request(
        self, queue: str, payload: BaseModel, *, timeout: float | None = None
    ) -> bytes:
        """Send ``payload`` to ``queue`` and return the raw JSON of the result; raise
        ``RpcError`` otherwise.

        The current trace context rides along in the message headers; with tracing on, the call
        is a CLIENT span named after the queue."""
        if not self._spans.on:
            return await self._call(queue, payload, timeout)
        attributes = tracing.messaging(queue, "send", **{"messaging.operation.name": "publish"})
        with self._spans.start_span(f"send {queue}", SpanKind.CLIENT, attributes) as span:
            try:
                return await self._call(queue, payload, timeout)
            except RemoteError as exc:
                span.set_attribute("error.type", str(exc.reply.code))
                raise
            except RpcError as exc:
                span.set_attribute("error.type", type(exc).__name__)
                raise

    async def _call(self, queue: str, payload: BaseModel, timeout: float | None) -> bytes:
        requests = self._requests
        if requests is None or not self.connected:
            raise BrokerUnavailable("message broker unreachable")
        timeout = timeout or self._timeout
        correlation_id = uuid.uuid4().hex
        command = payload.model_dump_json().encode()
        future: asyncio.Future[tuple[str | None, bytes]] = (
            asyncio.get_running_loop().create_future()
        )
        self._pending[correlation_id] = future
        headers: dict[str, Any] = {DEADLINE_HEADER: int((time.time() + timeout) * 1000)}
        tracing.inject(headers)
        properties = Properties(
            content_type="application/json",
            delivery_mode=NOT_PERSISTENT,
            correlation_id=correlation_id,
            reply_to=self._reply_queue,
            expiration=str(int(timeout * 1000)),
            message_id=correlation_id,
            headers=headers,
        )
        started, outcome = time.perf_counter(), "error"
        try:
            async with asyncio.timeout(timeout):
                # Not mandatory: aiormq reports returns only with publisher confirms, which an RPC
                # does not need (the reply confirms delivery). Command queues are durable and
                # declared by their service, so a request waits there for the service to answer.
                await requests.publish(command, routing_key=queue, properties=properties)
                reply_type, body = await future
            outcome = "ok" if reply_type != REPLY_ERROR else "error"
        except TimeoutError:
            outcome = "timeout"
            raise RpcTimeout(f"{queue} did not answer within {timeout:g}s") from None
        except (aio_pika.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
            raise BrokerUnavailable(f"message broker unreachable: {exc}") from None
        finally:
            self._pending.pop(correlation_id, None)
            RPC_CALLS.labels(queue, outcome).observe(time.perf_counter() - started)
        if reply_type == REPLY_ERROR:
            raise RemoteError(ErrorReply.model_validate_json(body))
        return body
