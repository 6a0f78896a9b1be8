"""Listening to ``support.events`` as an outside subscriber would."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aio_pika

from contracts.names import EVENTS_EXCHANGE


class EventTap:
    """An exclusive queue bound to some routing keys, collecting the events that arrive."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.events.append(json.loads(message.body))
        self._arrived.set()

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10
    ) -> dict[str, Any]:
        """The first event (already seen or to come) that satisfies ``predicate``."""
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                self._arrived.clear()
                await self._arrived.wait()


@asynccontextmanager
async def tap(amqp_url: str, *routing_keys: str) -> AsyncIterator[EventTap]:
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in routing_keys:
            await queue.bind(EVENTS_EXCHANGE, routing_key=key)
        listener = EventTap()
        await queue.consume(listener._on_message, no_ack=True)
        yield listener
    finally:
        await connection.close()
