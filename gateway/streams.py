"""Following answers as they are written: one exclusive queue per gateway process on
``ai.stream``, and the ``AnswerWatch`` of every client following one.

Messages posted through this gateway get ids with its own prefix (``new_message_id``), and two
bindings made at start bring all of their words (batches of deltas, ``token.<prefix>``) and final
states (``final.<prefix>.*``): a client following an answer costs the broker no binding of its
own. Another gateway's messages are heard by binding that gateway's prefix while any client here
follows one of them. Bindings change in a task of their own (``_Bindings``), never in a client's
request: a client that goes away mid-change cannot interrupt the channel's RPC (aiormq closes the
channel when one is cancelled, and every stream on it would lose words).

Words may still be lost (a broker restart, a channel recovered): a watch that sees a gap, or a
stream that joins an answer under way, asks the worker writing it for a snapshot
(``replay.<prefix>.<id>``, answered to this queue), and after any recovery every open stream
reads its message again, so a final state is never lost.
"""

import asyncio
import contextlib
import logging
import secrets
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from typing import Any

from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustConnection,
    AbstractRobustQueue,
)
from pydantic import ValidationError

from contracts.chat import AnswerDeltas, ReplayRequest, StreamChunk
from contracts.names import AI_STREAM_EXCHANGE, message_prefix, replay_key, token_key
from gateway.answers import AnswerWatch, Resume
from servicekit.bus import NOT_PERSISTENT, Properties, Publisher, connect, declare_exchanges
from servicekit.rpc_client import BrokerUnavailable

log = logging.getLogger(__name__)
ASK_AGAIN_SECONDS = 1.0
"""A watch asks for a snapshot at most this often."""


class _Bindings:
    """The queue's bindings for other gateways' prefixes, counted by how many watches need
    each, changed one at a time by a task of their own; a binding nobody needs is kept for
    ``linger`` seconds in case it is needed again."""

    def __init__(self, linger: float) -> None:
        self._linger = linger
        self._needed: Counter[str] = Counter()
        self._bound: dict[str, asyncio.Future[None]] = {}
        self._changes: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
        self._queue: AbstractRobustQueue | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, queue: AbstractRobustQueue) -> None:
        self._queue = queue
        self._task = asyncio.create_task(self._apply())

    async def need(self, key: str) -> None:
        """Return once ``key`` is bound (a cancelled wait leaves the binding to the task)."""
        self._needed[key] += 1
        bound = self._bound.get(key)
        if bound is None:
            bound = self._bound[key] = asyncio.get_running_loop().create_future()
            self._changes.put_nowait((key, True))
        await asyncio.shield(bound)

    def release(self, key: str) -> None:
        self._needed[key] -= 1
        if self._needed[key] <= 0:
            del self._needed[key]
            asyncio.get_running_loop().call_later(self._linger, self._unbind_if_unneeded, key)

    def _unbind_if_unneeded(self, key: str) -> None:
        if key not in self._needed and key in self._bound:
            del self._bound[key]
            self._changes.put_nowait((key, False))

    async def _apply(self) -> None:
        assert self._queue is not None
        while True:
            key, bind = await self._changes.get()
            try:
                if bind:
                    await self._queue.bind(AI_STREAM_EXCHANGE, routing_key=key)
                    future = self._bound.get(key)
                    if future is not None and not future.done():
                        future.set_result(None)
                elif key not in self._bound:  # not needed again meanwhile
                    await self._queue.unbind(AI_STREAM_EXCHANGE, routing_key=key)
            except Exception as exc:
                log.warning("binding %s on ai.stream not changed: %s", key, exc)
                future = self._bound.pop(key, None) if bind else None
                if future is not None and not future.done():
                    future.set_exception(BrokerUnavailable(f"cannot follow answers: {exc}"))

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()


class StreamHub:
    def __init__(self, url: str, *, linger: float = 30.0) -> None:
        self._url = url
        self._connection: AbstractRobustConnection | None = None
        self._queue: AbstractRobustQueue | None = None
        self._asks: Publisher | None = None
        self._watches: dict[uuid.UUID, set[AnswerWatch]] = defaultdict(set)
        self._bindings = _Bindings(linger)
        self._connector: asyncio.Task[None] | None = None
        self._prefix = secrets.token_hex(4)

    def new_message_id(self) -> uuid.UUID:
        """A fresh random id whose words and final state this gateway hears without binding."""
        return uuid.UUID(self._prefix + uuid.uuid4().hex[8:])

    def _ours(self, message_id: uuid.UUID) -> bool:
        return message_id.hex.startswith(self._prefix)

    @property
    def ready(self) -> bool:
        connection = self._connection
        return self._queue is not None and connection is not None and connection.connected.is_set()

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
        await queue.bind(AI_STREAM_EXCHANGE, routing_key=token_key(self._prefix))
        await queue.consume(self._on_message, no_ack=True)
        asks = await connection.channel(publisher_confirms=False)
        self._asks = Publisher(asks, AI_STREAM_EXCHANGE)
        connection.reconnect_callbacks.add(self._recovered)
        channel.reopen_callbacks.add(self._recovered)
        self._bindings.start(queue)
        self._connection, self._queue = connection, queue

    async def close(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
        self._bindings.close()
        if self._connection is not None:
            await self._connection.close()

    def _recovered(self, *_: Any) -> None:
        """The connection or the channel came back: what was sent meanwhile is lost."""
        log.info("ai.stream recovered: %d messages followed read again", len(self._watches))
        for watches in list(self._watches.values()):
            for watch in watches:
                watch.recovered()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        key = message.routing_key or ""
        try:
            if key.startswith("final."):
                final = StreamChunk.model_validate_json(message.body).message
                if final is not None:
                    for watch in self._watches.get(final.id, ()):
                        watch.offer_final(final)
                return
            batch = AnswerDeltas.model_validate_json(message.body)
        except ValidationError:
            log.warning("malformed message on %s dropped", key)
            return
        watches = self._watches
        for delta in batch.deltas:
            for watch in watches.get(delta.message_id, ()):
                watch.offer(delta)

    def ask_for_snapshot(self, message_id: uuid.UUID) -> None:
        """Ask the worker writing ``message_id``'s answer for what it has written so far."""
        asks, queue = self._asks, self._queue
        if asks is None or queue is None:
            return
        body = ReplayRequest(message_id=message_id).model_dump_json().encode()
        properties = Properties(delivery_mode=NOT_PERSISTENT, reply_to=queue.name)
        task = asyncio.ensure_future(
            asks.publish(body, routing_key=replay_key(message_id), properties=properties)
        )
        task.add_done_callback(_quietly)

    @contextlib.asynccontextmanager
    async def watch(
        self, message_id: uuid.UUID, *, words: bool = False, resume: Resume | None = None
    ) -> AsyncIterator[AnswerWatch]:
        """Follow one message's final state (and its words, if ``words``) while the block runs,
        heard from before it starts."""
        if not self.ready:
            raise BrokerUnavailable("message broker unreachable")
        asked = 0.0

        def ask() -> None:
            nonlocal asked
            if time.monotonic() - asked >= ASK_AGAIN_SECONDS:
                asked = time.monotonic()
                self.ask_for_snapshot(message_id)

        watch = AnswerWatch(message_id, words=words, resume=resume, ask=ask)
        keys = [] if self._ours(message_id) else self._foreign_keys(message_id, words)
        self._watches[message_id].add(watch)
        needed: list[str] = []
        try:
            for key in keys:
                needed.append(key)
                await self._bindings.need(key)
            yield watch
        finally:
            watches = self._watches.get(message_id)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[message_id]
            for key in needed:
                self._bindings.release(key)

    @staticmethod
    def _foreign_keys(message_id: uuid.UUID, words: bool) -> list[str]:
        prefix = message_prefix(message_id)
        return [f"final.{prefix}.*", *([token_key(prefix)] if words else [])]


def _quietly(task: "asyncio.Future[None]") -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("snapshot request not sent: %s", task.exception())
