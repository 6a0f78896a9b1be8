"""The AMQP connection of a process and the exchanges everyone relies on."""

import asyncio
import logging

import aio_pika
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection

from contracts.names import AI_STREAM_EXCHANGE, DEAD_LETTER_EXCHANGE, EVENTS_EXCHANGE

log = logging.getLogger(__name__)


async def connect(url: str, *, name: str, retry: bool = True) -> AbstractRobustConnection:
    """Open a robust connection, waiting for the broker to come up if ``retry``.

    Once open, aio-pika reconnects by itself and restores channels, queues and consumers.
    """
    delay = 0.5
    while True:
        try:
            return await aio_pika.connect_robust(url, client_properties={"connection_name": name})
        except (OSError, aio_pika.exceptions.AMQPError) as exc:
            if not retry:
                raise
            log.warning("broker not reachable (%s), retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)


async def declare_exchanges(channel: AbstractRobustChannel) -> None:
    """Declare the shared exchanges (idempotent: every process may do it)."""
    await channel.declare_exchange(EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    await channel.declare_exchange(DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)
    # Chunks of answers in progress: losing one loses nothing, the sealed message is the truth.
    await channel.declare_exchange(AI_STREAM_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=False)
