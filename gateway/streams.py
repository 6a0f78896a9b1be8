"""Following answers as they are written: one exclusive queue per gateway process on
``ai.stream``, bound to the messages its clients watch, fanned out to each of them.

Messages posted through this gateway get ids with its own prefix (``new_message_id``), and
one binding, made at start, brings all of their final states: a client waiting for its answer
costs the broker no binding of its own, and the gateway no delivery of the words on the way.
The words (``token.`` keys) are bound only while a client streams them; other gateways'
messages are bound one by one while watched.

Chunks are a courtesy: a client that misses one misses nothing, because the last word is
always the message as the chat service stored it (read again whenever in doubt).
"""

import asyncio
import contextlib
import logging
import secrets
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from pydantic import ValidationError

from contracts.chat import StreamChunk
from contracts.names import AI_STREAM_EXCHANGE, stream_key
from servicekit.bus import connect, declare_exchanges
from servicekit.rpc_client import BrokerUnavailable

log = logging.getLogger(__name__)


class StreamHub:
    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: AbstractRobustConnection | None = None
        self._queue: AbstractQueue | None = None
        self._watchers: dict[str, set[asyncio.Queue[StreamChunk]]] = defaultdict(set)
        """Inboxes by message id (as text)."""
        self._bound: Counter[str] = Counter()
        """Routing keys bound for watchers, and how many watchers need each."""
        self._connector: asyncio.Task[None] | None = None
        self._prefix = secrets.token_hex(4)

    def new_message_id(self) -> uuid.UUID:
        """A fresh random id whose stream this gateway hears without binding for it."""
        return uuid.UUID(self._prefix + uuid.uuid4().hex[8:])

    def _ours(self, message_id: uuid.UUID) -> bool:
        return message_id.hex.startswith(self._prefix)

    async def start(self) -> None:
        self._connector = asyncio.create_task(self._connect())

    async def _connect(self) -> None:
        connection = await connect(self._url, name="gateway-streams")
        channel = await connection.channel(publisher_confirms=False)
        await declare_exchanges(channel)
        queue = await channel.declare_queue(
            f"gateway.streams.{uuid.uuid4().hex[:12]}", exclusive=True, auto_delete=True
        )
        await queue.bind(AI_STREAM_EXCHANGE, routing_key=f"final.{self._prefix}.*")
        await queue.consume(self._on_chunk, no_ack=True)
        self._connection, self._queue = connection, queue

    async def close(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
        if self._connection is not None:
            await self._connection.close()

    async def _on_chunk(self, message: AbstractIncomingMessage) -> None:
        key = message.routing_key or ""
        watchers = self._watchers.get(key[key.rfind(".") + 1 :])
        if not watchers:
            return
        try:
            chunk = StreamChunk.model_validate_json(message.body)
        except ValidationError:
            log.warning("malformed chunk on %s dropped", key)
            return
        for watcher in watchers:
            watcher.put_nowait(chunk)

    def _binding(self, message_id: uuid.UUID, tokens: bool) -> str | None:
        """What to bind to hear ``message_id`` (its words too if ``tokens``); None: nothing."""
        if self._ours(message_id):  # its final state comes through the binding made at start
            return stream_key(message_id) if tokens else None
        final = stream_key(message_id, final=True)
        return "*" + final.removeprefix("final") if tokens else final

    @contextlib.asynccontextmanager
    async def watch(
        self, message_id: uuid.UUID, *, tokens: bool = False
    ) -> AsyncIterator[asyncio.Queue[StreamChunk]]:
        """The final state of one message (and its words on the way, if ``tokens``) while the
        block runs, bound before it starts."""
        queue, connection = self._queue, self._connection
        if queue is None or connection is None or not connection.connected.is_set():
            raise BrokerUnavailable("message broker unreachable")
        inbox: asyncio.Queue[StreamChunk] = asyncio.Queue()
        watched, binding = str(message_id), self._binding(message_id, tokens)
        self._watchers[watched].add(inbox)
        try:
            if binding is not None:
                self._bound[binding] += 1
                if self._bound[binding] == 1:
                    await queue.bind(AI_STREAM_EXCHANGE, routing_key=binding)
            yield inbox
        finally:
            self._watchers[watched].discard(inbox)
            if not self._watchers[watched]:
                del self._watchers[watched]
            if binding is not None:
                self._bound[binding] -= 1
                if self._bound[binding] <= 0:
                    del self._bound[binding]
                    with contextlib.suppress(Exception):
                        await queue.unbind(AI_STREAM_EXCHANGE, routing_key=binding)
