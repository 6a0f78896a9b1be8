"""The reaches under aio-pika into aiormq, its protocol layer: all of them, in one place.

On the path every message takes, aio-pika's conveniences cost more than the protocol: a publish
builds an ``aio_pika.Message`` and waits until the connection's writer task has put its frames
on the socket, and an ack waits the same way. The shortcuts here hand the frames to aiormq and
return once they are queued for the writer, in order with everything else on the connection
(``publish``, ``ack``); and frames queued together (a reply and the ack of its request, a
relay's batch of events) leave in one write rather than one each (``install``): on loopback a
write costs the writer a system call and the broker a wake-up. Neither way tells that the broker
got the frames; publisher confirms do, and a publish on a confirming channel still waits for its
confirm. What they save is in docs/performance.md.

They lean on aiormq internals (its writer's ``FrameGenerator``, ``Channel.basic_publish``'s
``wait``), so aiormq is pinned exactly, ``tests/unit/test_bus.py`` holds the writer to them, and
``AMQP_SHORTCUTS=false`` turns them all off: aio-pika's own publish and ack are used instead.
Nothing else in the runtime imports aiormq.
"""

import dataclasses
from typing import Any, cast

import aiormq
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

_installed = False


def install() -> None:
    """Join the frames queued together on every connection of this process from now on
    (idempotent; before the first connection opens)."""
    global _installed
    if not _installed:
        aiormq.connection.FrameGenerator = _Batches  # type: ignore[misc]
        _installed = True


async def publish(
    channel: AbstractChannel,
    body: bytes,
    *,
    exchange: str,
    routing_key: str,
    properties: dict[str, Any],
    timeout: float | None,
) -> None:
    """Publish through aiormq, returning once queued for the socket (or confirmed, on a channel
    with publisher confirms). aiormq writes a ``message_id`` into properties that have none, so
    they are built here for each message."""
    underlay = cast(aiormq.Channel, await channel.get_underlay_channel())
    await underlay.basic_publish(
        body,
        exchange=exchange,
        routing_key=routing_key,
        properties=aiormq.spec.Basic.Properties(**properties),
        timeout=timeout,
        wait=False,
    )


async def ack(message: AbstractIncomingMessage) -> None:
    """Acknowledge a delivery, returning once the frame is queued for the socket."""
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
