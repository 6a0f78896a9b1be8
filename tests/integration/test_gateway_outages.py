"""The gateway's answers when what it depends on is missing: 503 and 504, never a hang or 500."""

import os
import signal
import time

import httpx
import pytest

from support.api import User, assert_problem
from support.stack import Stack


@pytest.mark.parametrize(
    "lone_gateway", [{"AMQP_URL": "amqp://guest:guest@127.0.0.1:1/"}], indirect=True
)
def test_broker_unreachable_answers_503(lone_gateway: str, customer: User) -> None:
    started = time.monotonic()
    response = httpx.get(f"{lone_gateway}/api/users/me", headers=customer.headers, timeout=10)
    assert_problem(response, 503, "service_unavailable")
    assert time.monotonic() - started < 2, "fails fast rather than waiting for a timeout"
    ready = httpx.get(f"{lone_gateway}/api/ready", timeout=10)
    assert_problem(ready, 503)
    assert ready.json()["checks"]["broker"] == "unreachable"
    assert httpx.get(f"{lone_gateway}/api/health", timeout=10).status_code == 200


@pytest.mark.parametrize("lone_gateway", [{"RPC_TIMEOUT": "0.5"}], indirect=True)
def test_service_that_does_not_answer_gives_504(
    lone_gateway: str, stack: Stack, customer: User
) -> None:
    users = stack.service_pid("users_service")
    os.kill(users, signal.SIGSTOP)  # hung, not dead: the broker still thinks it consumes
    try:
        started = time.monotonic()
        response = httpx.get(f"{lone_gateway}/api/users/me", headers=customer.headers, timeout=10)
        elapsed = time.monotonic() - started
    finally:
        os.kill(users, signal.SIGCONT)
    assert_problem(response, 504, "upstream_timeout")
    assert elapsed < 3, "the timeout bounds the wait"
    after = httpx.get(f"{lone_gateway}/api/users/me", headers=customer.headers, timeout=10)
    assert after.status_code == 200, "the service recovers and answers again"
