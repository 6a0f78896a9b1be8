"""Serving commands: one durable queue per command, a typed reply for every request.

A handler that raised would send no reply and leave its caller waiting for a timeout, so every
outcome, including an unexpected bug or a database outage, becomes a reply here.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from contracts.enums import ErrorCode
from contracts.rpc import DEADLINE_HEADER, REPLY_ERROR, REPLY_OK, ErrorReply, FieldError
from servicekit import tracing
from servicekit.bus import NOT_PERSISTENT, Properties, Publisher, ack
from servicekit.db import is_database_unavailable
from servicekit.errors import DomainError
from servicekit.metrics import RPC_HANDLED
from servicekit.tracing import OFF, TRACEPARENT, TRACESTATE, Tracing
from servicekit.usecases import Route, UseCases

log = logging.getLogger(__name__)

UnitsOfWork = Callable[[], Any]
"""Makes the unit of work of one request (a service's bootstrap gives it)."""


def _error(code: ErrorCode, detail: str, errors: list[FieldError] | None = None) -> bytes:
    return ErrorReply(code=code, detail=detail, errors=errors or []).model_dump_json().encode()


def _validation_errors(exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(loc=list(e["loc"]), msg=e["msg"], type=e["type"])
        for e in exc.errors(include_url=False)
    ]


async def dispatch(
    route: Route, units_of_work: UnitsOfWork, body: bytes, spans: Tracing = OFF
) -> tuple[str, bytes]:
    """Run one command's use case in a unit of work of its own; return the reply's type and
    body. Never raises."""
    try:
        command = route.command.model_validate_json(body)
        result = await route.handler(command, units_of_work())
    except DomainError as exc:
        return REPLY_ERROR, exc.to_reply().model_dump_json().encode()
    except ValidationError as exc:
        return REPLY_ERROR, _error(ErrorCode.VALIDATION, "invalid command", _validation_errors(exc))
    except Exception as exc:
        spans.record_failure(exc)
        if is_database_unavailable(exc):
            log.warning("%s: database unavailable: %s", route.queue, exc)
            return REPLY_ERROR, _error(ErrorCode.UNAVAILABLE, "database unavailable, try again")
        log.exception("%s: unexpected error", route.queue)
        return REPLY_ERROR, _error(ErrorCode.INTERNAL, "internal error, logged for the operators")
    if result is None:
        return REPLY_OK, b""
    if isinstance(result, bytes):
        return REPLY_OK, result
    return REPLY_OK, result.model_dump_json().encode()


class RpcServer:
    """Consumes the queues of a service's commands and answers each request on its reply queue."""

    def __init__(
        self,
        channel: AbstractRobustChannel,
        use_cases: UseCases[Any],
        units_of_work: UnitsOfWork,
        *,
        access_log: bool = False,
        spans: Tracing = OFF,
    ) -> None:
        self._channel = channel
        self._spans = spans
        self._replies = Publisher(channel)
        self._use_cases = use_cases
        self._units_of_work = units_of_work
        self._access_log = access_log
        self._consumers: list[tuple[aio_pika.abc.AbstractQueue, str]] = []
        self._in_flight: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        for route in self._use_cases.routes.values():
            # Classic durable queue: a request lives no longer than its caller's timeout (it
            # carries that as its expiration), so a quorum queue's fsync would buy nothing.
            queue = await self._channel.declare_queue(route.queue, durable=True)
            tag = await queue.consume(self._consumer(route))
            self._consumers.append((queue, tag))

    def _consumer(self, route: Route) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
        async def on_message(message: AbstractIncomingMessage) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._in_flight.add(task)
            try:
                await self._answer(route, message)
            finally:
                if task is not None:
                    self._in_flight.discard(task)

        return on_message

    async def _answer(self, route: Route, message: AbstractIncomingMessage) -> None:
        """Answer one request inside the caller's trace context (a SERVER span if tracing)."""
        headers = message.headers
        parent = tracing.carried(headers.get(TRACEPARENT), headers.get(TRACESTATE))
        attributes = (
            tracing.messaging(
                route.queue,
                "process",
                **{"messaging.message.conversation_id": message.correlation_id or ""},
            )
            if self._spans.on
            else None
        )
        with self._spans.continue_trace(
            parent, f"process {route.queue}", SpanKind.SERVER, attributes
        ):
            await self._answer_traced(route, message)

    async def _answer_traced(self, route: Route, message: AbstractIncomingMessage) -> None:
        started = time.perf_counter()
        deadline = message.headers.get(DEADLINE_HEADER)
        if isinstance(deadline, int) and deadline < time.time() * 1000:
            log.info("%s: caller gave up before we got to it, dropped", route.queue)
            await ack(message)
            return
        reply_type, body = await dispatch(route, self._units_of_work, message.body, self._spans)
        if message.reply_to:
            reply = Properties(
                content_type="application/json",
                delivery_mode=NOT_PERSISTENT,
                correlation_id=message.correlation_id,
                message_id=message.correlation_id,
                message_type=reply_type,
            )
            try:
                await self._replies.publish(body, routing_key=message.reply_to, properties=reply)
            except Exception as exc:  # the caller is gone or the broker is: it sees a timeout
                log.warning("%s: reply not sent: %s", route.queue, exc)
        try:
            await ack(message)
        except Exception as exc:  # channel lost: the broker redelivers, the handler is idempotent
            log.warning("%s: ack failed: %s", route.queue, exc)
        outcome = "ok" if reply_type == REPLY_OK else "error"
        elapsed = time.perf_counter() - started
        RPC_HANDLED.labels(route.queue, outcome).observe(elapsed)
        if self._access_log:
            log.info(
                "%s %s %.1fms",
                route.queue,
                outcome,
                elapsed * 1000,
                extra={"queue": route.queue, "outcome": outcome},
            )

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking requests, then let those in flight finish (up to ``grace`` seconds)."""
        for queue, tag in self._consumers:
            try:
                await queue.cancel(tag)
            except Exception as exc:
                log.debug("cancel %s: %s", queue.name, exc)
        self._consumers.clear()
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=grace)
