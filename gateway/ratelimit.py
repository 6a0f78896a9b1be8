"""Rate limits on logging in and on asking the assistant: 429 with ``Retry-After``.

Moving windows from the ``limits`` library, kept in this process's memory: each gateway
replica counts on its own, so N replicas allow up to N times the limit. That bounds guessing
and flooding well enough at this scale; a shared store (``limits`` speaks Redis) is the step up.
"""

import math
import time
from typing import Annotated

from fastapi import Depends, Request
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from gateway.settings import GatewaySettings


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests, try again in {retry_after}s")
        self.retry_after = retry_after


class RateLimits:
    def __init__(self, settings: GatewaySettings) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self.login = parse(settings.rate_limit_login)
        self.messages = parse(settings.rate_limit_messages)

    async def hit(self, item: RateLimitItem, *key: str) -> None:
        """Count one request against ``item`` for ``key``; raise ``RateLimited`` past it."""
        if await self._limiter.hit(item, *key):
            return
        stats = await self._limiter.get_window_stats(item, *key)
        raise RateLimited(max(1, math.ceil(stats.reset_time - time.time())))


async def _limits(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.rate_limits
    return limits


Limits = Annotated[RateLimits, Depends(_limits)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
