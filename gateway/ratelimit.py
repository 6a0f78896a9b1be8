"""Rate limits on logging in and on asking the assistant: 429 with ``Retry-After``.

"N per period" is kept as the generic cell rate algorithm (GCRA): one number per key, the time
its budget is next clear, so a hit costs a dict lookup and no background work. Up to N requests
may come at once; after that, one more every period/N. Items are parsed by the ``limits``
library (``"5/minute"``); its in-memory storage is not used: it expires its windows with a
thread hop per key on every hit, a large part of the gateway's work on the message path
(docs/performance.md).

Counts live in this process's memory: each gateway replica counts on its own, so N replicas
allow up to N times the limit. That bounds guessing and flooding well enough at this scale; a
shared store (Redis) is the step up.
"""

import math
import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from limits import RateLimitItem, parse

from gateway.settings import GatewaySettings

PRUNE_EVERY = 4096
"""Hits between two sweeps of the keys whose budget is clear again (they weigh nothing)."""


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests, try again in {retry_after}s")
        self.retry_after = retry_after


class RateLimits:
    def __init__(
        self, settings: GatewaySettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.login = parse(settings.rate_limit_login)
        self.messages = parse(settings.rate_limit_messages)
        self._clock = clock
        self._clear_at: dict[tuple[str, ...], float] = {}
        self._hits = 0

    def hit(self, item: RateLimitItem, *key: str) -> None:
        """Count one request against ``item`` for ``key``; raise ``RateLimited`` past it."""
        now, period = self._clock(), float(item.get_expiry())
        interval = period / item.amount
        slot = (str(item), *key)
        clear_at = max(self._clear_at.get(slot, now), now)
        if clear_at - now > period - interval:  # the N in flight within the period are spent
            raise RateLimited(max(1, math.ceil(clear_at - now - (period - interval))))
        self._clear_at[slot] = clear_at + interval
        self._hits += 1
        if self._hits % PRUNE_EVERY == 0:
            self._clear_at = {k: at for k, at in self._clear_at.items() if at > now}

    def __len__(self) -> int:
        """Keys with a budget in use (or not yet swept)."""
        return len(self._clear_at)


async def _limits(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.rate_limits
    return limits


Limits = Annotated[RateLimits, Depends(_limits)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
