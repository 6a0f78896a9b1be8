"""The rate rule: up to N at once, then one more each period/N, and an honest Retry-After."""

import pytest

from gateway.ratelimit import PRUNE_EVERY, RateLimited, RateLimits
from gateway.settings import GatewaySettings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _limits(messages: str, clock: Clock) -> RateLimits:
    settings = GatewaySettings(jwt_secret="x" * 32, rate_limit_messages=messages)
    return RateLimits(settings, clock=clock)


def test_a_burst_up_to_the_limit_passes_and_the_next_waits_for_one_slot() -> None:
    clock = Clock()
    limits = _limits("6/minute", clock)
    for _ in range(6):
        limits.hit(limits.messages, "alice")
    with pytest.raises(RateLimited) as blocked:
        limits.hit(limits.messages, "alice")
    assert blocked.value.retry_after == 10  # one slot in 60/6 seconds
    clock.now += 9.5
    with pytest.raises(RateLimited):
        limits.hit(limits.messages, "alice")
    clock.now += 0.5
    limits.hit(limits.messages, "alice")  # the slot came back
    with pytest.raises(RateLimited):
        limits.hit(limits.messages, "alice")


def test_keys_count_apart_and_a_quiet_period_restores_the_whole_budget() -> None:
    clock = Clock()
    limits = _limits("2/minute", clock)
    limits.hit(limits.messages, "alice")
    limits.hit(limits.messages, "alice")
    limits.hit(limits.messages, "bob")  # bob has his own budget
    with pytest.raises(RateLimited):
        limits.hit(limits.messages, "alice")
    clock.now += 60
    limits.hit(limits.messages, "alice")
    limits.hit(limits.messages, "alice")


def test_a_refused_hit_does_not_spend_budget() -> None:
    clock = Clock()
    limits = _limits("1/minute", clock)
    limits.hit(limits.messages, "alice")
    for _ in range(5):
        with pytest.raises(RateLimited):
            limits.hit(limits.messages, "alice")
    clock.now += 60
    limits.hit(limits.messages, "alice")


def test_keys_whose_budget_is_clear_are_swept() -> None:
    clock = Clock()
    limits = _limits("10/second", clock)
    for n in range(PRUNE_EVERY - 1):
        limits.hit(limits.messages, f"user-{n}")
    assert len(limits) == PRUNE_EVERY - 1
    clock.now += 1
    limits.hit(limits.messages, "last")
    assert len(limits) == 1
