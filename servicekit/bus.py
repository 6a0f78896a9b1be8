"""The AMQP connection of a process, the exchanges everyone relies on, and the hot path of
publishing and acknowledging.

aio-pika keeps the connection and its channels, queues and consumers alive across broker
restarts. On the path every message takes, though, its conveniences cost more than the
protocol: a publish builds an ``aio_pika.Message`` and waits until the connection's writer task
has put the frames on the socket, and an ack waits the same way. ``Publisher`` and ``ack`` hand
the frames to aiormq (the protocol layer under aio-pika) and return once they are queued for
the writer, in order with everything else on the connection: less than half the CPU of a
publish (68 -> 28 µs measured here). Neither way tells that the broker got the frames; publisher
confirms do, and a publish on a confirming channel still waits for its confirm.

Frames queued together (a reply and the ack of its request, a relay's batch of events) then go
out in one write rather than one each (``_Batches``): on loopback a write costs the writer tens
of microseconds, and the broker a wake-up. That is aiormq's writer fed through its
``FrameGenerator``, replaced for every connection of the process when this module is imported;
aiormq is pinned, and ``tests/unit/test_bus.py`` holds the writer to it.
"""

import asyncio
import dataclasses
import logging
from typing import Final, cast

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

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


Properties = aiormq.spec.Basic.Properties
"""A message's AMQP properties (``message_type`` is AMQP's ``type``)."""
NOT_PERSISTENT: Final = int(aio_pika.DeliveryMode.NOT_PERSISTENT)
PERSISTENT: Final = int(aio_pika.DeliveryMode.PERSISTENT)


class Publisher:
    """Publishes to one exchange (the default one if unnamed) on one channel, through aiormq."""

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
        otherwise return once the frames are queued for the socket. A closed channel raises
        ``ChannelInvalidStateError``.

        ``properties`` belong to this message alone: aiormq writes a random ``message_id``
        into them when they have none, so properties shared between publishes would give every
        later message the first one's id."""
        if self.channel.is_closed:
            raise aio_pika.exceptions.ChannelInvalidStateError(f"{self.channel!r} closed")
        # aiormq's channel; its abstract type does not declare ``wait``.
        underlay = cast(aiormq.Channel, await self.channel.get_underlay_channel())
        await underlay.basic_publish(
            body,
            exchange=self.exchange,
            routing_key=routing_key,
            properties=properties,
            timeout=timeout,
            wait=False,
        )


async def ack(message: AbstractIncomingMessage) -> None:
    """Acknowledge a delivery; return once the frame is queued for the socket."""
    if message.delivery_tag is not None:  # None: consumed without acknowledgements
        await message.channel.basic_ack(message.delivery_tag, wait=False)


@dataclasses.dataclass(frozen=True)
class _Batch(aiormq.abc.ChannelFrame):
    """Frames queued together, written with one system call."""

    parts: tuple[aiormq.abc.ChannelFrame, ...] = ()

    @property
    def should_drain(self) -> bool:
        return any(part.should_drain for part in self.parts)

    def drain(self) -> None:
        for part in self.parts:
            part.drain()


class _Batches(aiormq.connection.FrameGenerator):
    """What aiormq's writer task writes next: every frame queued by then, joined, up to and
    including a frame that closes the connection (the writer stops after that one)."""

    async def __anext__(self) -> aiormq.abc.ChannelFrame:
        frame = await super().__anext__()
        if frame.should_close or self.queue.empty():
            return frame
        parts = [frame]
        while not self.queue.empty() and not parts[-1].should_close:
            parts.append(self.queue.get_nowait())
            self.queue.task_done()
        return _Batch(
            payload=b"".join(part.payload for part in parts),
            should_close=parts[-1].should_close,
            parts=tuple(parts),
        )


aiormq.connection.FrameGenerator = _Batches  # type: ignore[misc]
