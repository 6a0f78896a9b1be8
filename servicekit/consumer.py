"""Consuming events: a durable quorum queue per subscribing service, and a dead-letter queue.

A handler that fails is retried by redelivery up to the queue's delivery limit, then the event
goes to ``<queue>.dlq``; a body that is not a CloudEvent goes there at once. Delivery is at least
once, so every handler must be idempotent.
"""

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel, AbstractRobustQueue
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from contracts.events import CloudEvent
from contracts.names import DEAD_LETTER_EXCHANGE, EVENTS_EXCHANGE
from servicekit import tracing
from servicekit.bus import ack
from servicekit.metrics import EVENTS_HANDLED
from servicekit.tracing import OFF, TRACEPARENT, TRACESTATE, Tracing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """How an event reached its handler."""

    redelivered: bool
    """The broker handed it out before (to a consumer that died or gave it back): its effect
    may be done already. False for a first delivery, even of an event published twice."""


EventHandler = Callable[[CloudEvent, Delivery], Awaitable[None]]


async def declare_event_queue(
    channel: AbstractRobustChannel, queue: str, routing_keys: Sequence[str], *, delivery_limit: int
) -> AbstractRobustQueue:
    """Declare ``queue`` (quorum, dead-lettering to ``<queue>.dlq``) bound to ``routing_keys``."""
    dlq = await channel.declare_queue(f"{queue}.dlq", durable=True)
    await dlq.bind(DEAD_LETTER_EXCHANGE, routing_key=queue)
    declared = await channel.declare_queue(
        queue,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": queue,
        },
    )
    for key in routing_keys:
        await declared.bind(EVENTS_EXCHANGE, routing_key=key)
    return declared


async def consume_events(
    channel: AbstractRobustChannel,
    queue: str,
    routing_keys: Sequence[str],
    handler: EventHandler,
    *,
    delivery_limit: int,
    access_log: bool = False,
    spans: Tracing = OFF,
) -> None:
    """Start consuming ``queue`` with ``handler``.

    Each event is handled in the trace context it carries (its ``traceparent``, the change that
    caused it), as a CONSUMER span when tracing is on: what the handler does joins that trace.
    """
    # Consume on the queue object the robust channel declared: that is the one whose consumer
    # aio-pika restores after a reconnect (a queue fetched otherwise is silently left behind).
    declared = await declare_event_queue(
        channel, queue, routing_keys, delivery_limit=delivery_limit
    )

    async def on_message(message: AbstractIncomingMessage) -> None:
        try:
            event = CloudEvent.model_validate_json(message.body)
        except ValidationError:
            log.error("%s: not a CloudEvent, dead-lettered: %r", queue, message.body[:200])
            await message.reject(requeue=False)
            return
        if event.traceparent is not None:
            parent = tracing.carried(event.traceparent, event.tracestate)
        else:  # an envelope from elsewhere may carry the context in its AMQP headers alone
            parent = tracing.carried(
                message.headers.get(TRACEPARENT), message.headers.get(TRACESTATE)
            )
        attributes = _span_attributes(queue, message, event) if spans.on else None
        with spans.continue_trace(parent, f"process {queue}", SpanKind.CONSUMER, attributes):
            await handle(event, message)

    async def handle(event: CloudEvent, message: AbstractIncomingMessage) -> None:
        started = time.perf_counter()
        try:
            await handler(event, Delivery(redelivered=bool(message.redelivered)))
        except Exception as exc:
            spans.record_failure(exc)
            log.exception("%s: handling %s %s failed", queue, event.type, event.id)
            EVENTS_HANDLED.labels(queue, "error").observe(time.perf_counter() - started)
            await message.nack(requeue=True)
            return
        elapsed = time.perf_counter() - started
        EVENTS_HANDLED.labels(queue, "ok").observe(elapsed)
        if access_log:
            log.info(
                "%s: %s %s handled in %.1fms",
                queue,
                event.type,
                event.id,
                elapsed * 1000,
                extra={"queue": queue, "event_type": event.type, "event_id": str(event.id)},
            )
        await ack(message)

    await declared.consume(on_message)


def _span_attributes(
    queue: str, message: AbstractIncomingMessage, event: CloudEvent
) -> dict[str, str]:
    return tracing.messaging(
        EVENTS_EXCHANGE,
        "process",
        **{
            "messaging.destination.subscription.name": queue,
            "messaging.rabbitmq.destination.routing_key": message.routing_key or "",
            "messaging.message.id": str(event.id),
            "cloudevents.event_id": str(event.id),
            "cloudevents.event_type": event.type,
            "cloudevents.event_source": event.source,
        },
    )
