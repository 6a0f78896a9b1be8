"""The AMQP connection of a process, the exchanges everyone relies on, and publishing and
acknowledging on the path every message takes.

aio-pika keeps the connection and its channels, queues and consumers alive across broker
restarts. Publishes and acks go through ``servicekit.amqp_shortcuts`` (straight to aiormq,
without waiting for the socket) unless ``AMQP_SHORTCUTS=false`` (``configure``), when they are
aio-pika's own.
"""

import asyncio
import dataclasses
import logging
from datetime import datetime
from typing import Any, Final

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from contracts.names import AI_STREAM_EXCHANGE, DEAD_LETTER_EXCHANGE, EVENTS_EXCHANGE
from servicekit import amqp_shortcuts

log = logging.getLogger(__name__)


async def connect(url: str, *, name: str, retry: bool = True) -> AbstractRobustConnection:
    """Open a robust connection, waiting for the broker to come up if ``retry``.

    Once open, aio-pika reconnects by itself and restores channels, queues and consumers.
    """
    if _shortcuts:
        amqp_shortcuts.install()
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


_shortcuts = True


def configure(*, shortcuts: bool) -> None:
    """Choose, once per process and before connecting, whether publishes and acks take the
    shortcuts (see ``servicekit.amqp_shortcuts``); they do unless told otherwise."""
    global _shortcuts
    _shortcuts = shortcuts


NOT_PERSISTENT: Final = int(aio_pika.DeliveryMode.NOT_PERSISTENT)
PERSISTENT: Final = int(aio_pika.DeliveryMode.PERSISTENT)


@dataclasses.dataclass(frozen=True, slots=True)
class Properties:
    """A message's AMQP properties (``message_type`` is AMQP's ``type``)."""

    content_type: str | None = None
    delivery_mode: int | None = None
    correlation_id: str | None = None
    message_id: str | None = None
    message_type: str | None = None
    reply_to: str | None = None
    expiration: str | None = None
    timestamp: datetime | None = None
    headers: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {f: v for f in _FIELDS if (v := getattr(self, f)) is not None}

    def message(self, body: bytes) -> aio_pika.Message:
        """The aio-pika message of ``body`` with these properties (the plain path)."""
        values = self.as_dict()
        if "message_type" in values:
            values["type"] = values.pop("message_type")
        if "expiration" in values:  # AMQP's milliseconds; aio-pika takes seconds
            values["expiration"] = int(values["expiration"]) / 1000
        return aio_pika.Message(body, **values)


_FIELDS = tuple(field.name for field in dataclasses.fields(Properties))


class Publisher:
    """Publishes to one exchange (the default one if unnamed) on one channel."""

    def __init__(self, channel: AbstractChannel, exchange: str = "") -> None:
        self.channel, self.exchange = channel, exchange

    async def publish(
        self,
        body: bytes,
        *,
        routing_key: str,
        properties: Properties,
        timeout: float | None = None,
    ) -> None:
        """Publish ``body``, not mandatory (an unroutable message is dropped). On a channel with
        publisher confirms, wait for the broker's confirm (a nack raises ``DeliveryError``);
        otherwise return once the frames are on their way. A closed channel raises
        ``ChannelInvalidStateError``."""
        if self.channel.is_closed:
            raise aio_pika.exceptions.ChannelInvalidStateError(f"{self.channel!r} closed")
        if _shortcuts:
            await amqp_shortcuts.publish(
                self.channel,
                body,
                exchange=self.exchange,
                routing_key=routing_key,
                properties=properties.as_dict(),
                timeout=timeout,
            )
            return
        exchange = (
            self.channel.default_exchange
            if not self.exchange
            else await self.channel.get_exchange(self.exchange, ensure=False)
        )
        await exchange.publish(
            properties.message(body), routing_key=routing_key, mandatory=False, timeout=timeout
        )


async def ack(message: AbstractIncomingMessage) -> None:
    """Acknowledge a delivery."""
    if _shortcuts:
        await amqp_shortcuts.ack(message)
    else:
        await message.ack()
