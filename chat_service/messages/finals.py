"""Final states announced on ``ai.stream``: once a message is sealed or failed (and that is
committed), the clients waiting on it hear it at once. Best effort: the message is the truth,
and a client that missed the announcement reads it."""

import logging
from typing import Protocol

from contracts.chat import MessagePublic, StreamChunk
from contracts.names import final_key
from servicekit.bus import NOT_PERSISTENT, Properties, Publisher

log = logging.getLogger("chat_service")


class FinalStates(Protocol):
    async def announce(self, message: MessagePublic) -> None:
        """Tell who waits on ``message`` its final state, sealed or failed; never raises."""
        ...


class StreamFinals:
    """``FinalStates`` on the ``ai.stream`` exchange."""

    def __init__(self, stream: Publisher) -> None:
        self._stream = stream

    async def announce(self, message: MessagePublic) -> None:
        chunk = StreamChunk(type=message.status.value, message=message)
        try:
            await self._stream.publish(
                chunk.model_dump_json().encode(),
                routing_key=final_key(message.id),
                properties=Properties(delivery_mode=NOT_PERSISTENT),
            )
        except Exception as exc:  # best effort: waiting clients re-read the message
            log.warning("final state of %s not announced: %s", message.id, exc)
