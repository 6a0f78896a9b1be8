"""Stream chunks in batches: a model writes 30 to 100 tokens a second, and one AMQP message per
token costs the broker and every gateway watching more than the answer itself."""

import asyncio
import math
from collections.abc import Awaitable, Callable

from contracts.chat import StreamChunk

Publish = Callable[[StreamChunk], Awaitable[None]]


class Coalescer:
    """Publishes at most one chunk per ``interval`` seconds, with all the text written
    meanwhile, counting from when the answer started (the Coalescer's creation). An answer
    written whole within the first interval (a cache, an offline answer) publishes nothing: the
    sealed message that follows carries it. Once a chunk went out, ``close()`` sends the rest,
    so the chunks add up to the answer."""

    def __init__(self, publish: Publish, *, interval: float) -> None:
        self._publish, self._interval = publish, interval
        self._pending: list[str] = []
        self._last = asyncio.get_running_loop().time()
        self._sent = False
        """Whether a chunk went out: watchers have begun to show this answer."""
        self._timer: asyncio.TimerHandle | None = None
        self._later: set[asyncio.Task[None]] = set()

    async def add(self, delta: str) -> None:
        self._pending.append(delta)
        loop = asyncio.get_running_loop()
        due = self._last + self._interval
        if loop.time() >= due:
            await self.flush()
        elif self._timer is None:
            self._timer = loop.call_at(due, self._flush_soon)

    def _flush_soon(self) -> None:
        self._timer = None
        task = asyncio.create_task(self.flush())
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def flush(self) -> None:
        self._cancel_timer()
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        self._last = asyncio.get_running_loop().time()
        self._sent = True
        await self._publish(StreamChunk(type="token", delta=text))

    async def reset(self) -> None:
        """The attempt so far is void: drop what is unsent and, if watchers saw some of it,
        tell them to start over (the next attempt's first words then go out at once)."""
        self._cancel_timer()
        self._pending.clear()
        if self._sent:
            self._last = -math.inf
            await self._publish(StreamChunk(type="reset"))

    async def close(self, *, send: bool = True) -> None:
        """Send what is left if chunks went out already (else the sealed message carries it),
        or drop it; wait for any flush under way."""
        if send and self._sent:
            await self.flush()
        else:
            self._cancel_timer()
            self._pending.clear()
        if self._later:
            await asyncio.gather(*self._later, return_exceptions=True)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
