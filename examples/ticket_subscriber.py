"""Print every ticket event as it happens: a subscriber to ``support.events`` to copy.

Needs ``faststream[rabbit]`` and ``contracts`` (pydantic only). Ctrl-C or SIGTERM stops it.
"""

import asyncio
import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from uuid import UUID

from faststream import AckPolicy, FastStream
from faststream.exceptions import RejectMessage
from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.annotations import RabbitMessage
from pydantic import ValidationError

from contracts.events import EVENT_CATALOG, CloudEvent
from contracts.names import DEAD_LETTER_EXCHANGE, EVENTS_EXCHANGE
from contracts.tickets import TicketPublic, TicketStatusChanged, TicketUpdated

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
QUEUE = os.environ.get("SUBSCRIBER_QUEUE", "example.ticket-printer")


class RecentIds:
    """The ids of the last ``size`` events handled, oldest forgotten first."""

    # Delivery is at least once, so the same event can come twice. Memory forgets on restart:
    # a real subscriber keeps processed ids in its own database, written in the same
    # transaction as the event's effect, so "done" and "remembered" cannot disagree.
    def __init__(self, size: int = 10_000) -> None:
        self._ids: OrderedDict[UUID, None] = OrderedDict()
        self._size = size

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: UUID) -> None:
        """Remember ``event_id``, forgetting the oldest id beyond ``size``."""
        self._ids[event_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)


def format_line(event: CloudEvent) -> str:
    """One line for a ticket event: ``time type ticket=<id> status=<status> ...``."""
    head = f"{event.time.isoformat()} {event.type}"
    if event.type not in EVENT_CATALOG:  # newer than our copy of contracts: still say so
        return f"{head} subject={event.subject}"
    data = EVENT_CATALOG[event.type][0].model_validate(event.data)
    if isinstance(data, TicketPublic):
        return f"{head} ticket={data.id} status={data.status} priority={data.priority}"
    if not isinstance(data, TicketStatusChanged | TicketUpdated):
        return f"{head} subject={event.subject}"
    head = f"{head} ticket={data.ticket.id} status={data.ticket.status}"
    if isinstance(data, TicketStatusChanged):
        return f"{head} {data.from_status} -> {data.to_status} by={data.actor_id}"
    changes = " ".join(f"{c.field}: {c.from_value} -> {c.to_value}" for c in data.changes)
    return f"{head} {changes} by={data.actor_id}"


def handle(event: CloudEvent, seen: RecentIds, emit: Callable[[str], None]) -> None:
    """Emit the line of ``event`` unless it was already handled (a redelivery)."""
    if event.id in seen:
        return
    emit(format_line(event))
    seen.add(event.id)  # after the effect: a crash in between means a retry, never a loss


def print_line(line: str) -> None:
    """Print at once: stdout is often a pipe, which would otherwise buffer the lines."""
    print(line, flush=True)


# FastStream's per-message "Received"/"Processed" lines go to DEBUG: stdout is for the events.
broker = RabbitBroker(AMQP_URL, log_level=logging.DEBUG)
app = FastStream(broker)
seen = RecentIds()
events = RabbitExchange(EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True)
# Quorum: replicated and counts deliveries, so an event that keeps failing goes to the
# dead-letter queue after 5 tries instead of looping for ever.
queue = RabbitQueue(
    QUEUE,
    QueueType.QUORUM,
    routing_key="ticket.#",
    arguments={
        "x-delivery-limit": 5,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": QUEUE,
    },
)


@app.on_startup
async def declare_dead_letter_queue() -> None:
    """Declare ``<queue>.dlq`` before the queue itself, so no dead letter is dropped."""
    await broker.connect()
    exchange = await broker.declare_exchange(
        RabbitExchange(DEAD_LETTER_EXCHANGE, type=ExchangeType.DIRECT, durable=True)
    )
    dlq = await broker.declare_queue(RabbitQueue(f"{QUEUE}.dlq", durable=True))
    await dlq.bind(exchange, routing_key=QUEUE)


# A failing handler is nacked and redelivered (counted against x-delivery-limit).
@broker.subscriber(queue, events, ack_policy=AckPolicy.NACK_ON_ERROR)
async def on_ticket_event(message: RabbitMessage) -> None:
    """Parse one delivery as a CloudEvent and print it."""
    try:
        event = CloudEvent.model_validate_json(message.body)
    except ValidationError:
        raise RejectMessage from None  # not a CloudEvent: retrying cannot help, dead-letter it
    handle(event, seen, print_line)


if __name__ == "__main__":
    asyncio.run(app.run())  # FastStream.run stops the broker cleanly on SIGINT and SIGTERM
