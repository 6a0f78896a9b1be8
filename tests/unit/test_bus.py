"""Frames queued together leave in one write, through aiormq's own writer task."""

import asyncio

import aiormq
from aiormq.abc import ChannelFrame

from servicekit import amqp_shortcuts

amqp_shortcuts.install()  # replaces aiormq's FrameGenerator


class Socket:
    """Stands in for the connection's ``StreamWriter``: what was written, write by write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    async def drain(self) -> None:
        return None

    def is_closing(self) -> bool:  # the writer closes its socket as it stops
        return True


def _writer(socket: Socket) -> tuple[aiormq.Connection, "asyncio.Task[None]"]:
    """aiormq's writer task of a connection (never opened) writing to ``socket``."""
    connection = aiormq.Connection("amqp://guest:guest@127.0.0.1/")
    connection._Connection__connection_unblocked.set()  # type: ignore[attr-defined]
    task = asyncio.create_task(connection._Connection__writer(socket))  # type: ignore[attr-defined]
    return connection, task


async def test_frames_queued_together_go_out_in_one_write_in_order() -> None:
    socket = Socket()
    connection, writer = _writer(socket)
    loop = asyncio.get_running_loop()
    drained = [loop.create_future(), None, loop.create_future()]
    for number, future in enumerate(drained):
        await connection.write_queue.put(
            ChannelFrame(payload=b"frame%d;" % number, should_close=False, drain_future=future)
        )
    await connection.write_queue.put(ChannelFrame(payload=b"close", should_close=True))
    await asyncio.wait_for(writer, 2)  # the writer stops after the frame that closes

    assert socket.writes == [b"frame0;frame1;frame2;close"]
    assert all(future.done() for future in drained if future is not None)


async def test_frames_queued_apart_go_out_apart() -> None:
    socket = Socket()
    connection, writer = _writer(socket)
    await connection.write_queue.put(ChannelFrame(payload=b"reply;", should_close=False))
    await asyncio.sleep(0.01)
    await connection.write_queue.put(ChannelFrame(payload=b"ack;", should_close=False))
    await asyncio.sleep(0.01)
    await connection.write_queue.put(ChannelFrame(payload=b"close", should_close=True))
    await asyncio.wait_for(writer, 2)

    assert socket.writes == [b"reply;", b"ack;", b"close"]
