"""Fixtures: one running system per test session, clients and users to drive it."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fakes.openai_server import FakeOpenAI
from support.api import User, admin_user, sign_up
from support.infra import Infra, infra_or_fail
from support.stack import Stack, extra_gateway, run_stack


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with infra_or_fail() as provided:
        yield provided


FAST_SWEEP = {"SWEEP_AFTER_SECONDS": "3", "SWEEP_INTERVAL_SECONDS": "1"}
# JSON lines with a line per request, command and event, as a log collector would take them:
# tests/integration/test_tracing.py follows one request's trace id through them.
LOGS = {"LOG_JSON": "true", "ACCESS_LOG": "true"}


@pytest.fixture(scope="session")
def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The system as ``make run`` starts it: no LLM key, answers from the knowledge base (and
    no trace exporter); it logs JSON lines, one per request, command and event."""
    with run_stack(infra, tmp_path_factory.mktemp("stack"), **FAST_SWEEP, **LOGS) as running:
        yield running


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="session")
def llm_stack(fake_llm: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A second system whose AI worker talks to the fake OpenAI server through the SDK."""
    settings = {
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": fake_llm.base_url,
        "AI_MODEL": "fake-model",
        "AI_TIMEOUT": "1.5",
        "AI_MAX_ATTEMPTS": "3",
        "AI_RETRY_BASE_SECONDS": "0.05",
        "SWEEP_AFTER_SECONDS": "30",
    }
    with (
        infra_or_fail() as infra,
        run_stack(infra, tmp_path_factory.mktemp("llm"), **settings) as running,
    ):
        yield running


@pytest.fixture(scope="session")
def llm_api(llm_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=llm_stack.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=15) as client:
        yield client


@pytest.fixture(scope="session")
def admin(api: httpx.Client) -> User:
    return admin_user(api)


@pytest.fixture(scope="session")
def agent(api: httpx.Client, admin: User) -> User:
    return sign_up(api, role="agent", admin=admin)


@pytest.fixture
def customer(api: httpx.Client) -> User:
    return sign_up(api)


@pytest.fixture
def stack_log(stack: Stack) -> Path:
    return stack.log


@pytest.fixture
def lone_gateway(stack: Stack, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A second gateway process with the settings the test gives (``indirect`` param)."""
    with extra_gateway(stack, tmp_path, **request.param) as base:
        yield base
