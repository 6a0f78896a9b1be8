"""The fault suite: its own system (every service its own process under the supervisor, as
``make run``), broken in turn while under load. Each fault's figures are printed at the end."""

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from faults.harness import Report

from fakes.openai_server import FakeOpenAI
from support.api import User, new_chat, sign_up
from support.infra import infra_or_fail
from support.stack import Stack, run_stack

BURST = int(os.environ.get("FAULT_BURST", "500"))
REPORTS: list[Report] = []


@pytest.fixture(scope="module")
def fault_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def fault_stack(fault_llm: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = {
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": fault_llm.base_url,
        "AI_MODEL": "fake-model",
        "AI_TIMEOUT": "10",  # generous: this suite tests retries, and the fake shares a busy CPU
        "AI_MAX_ATTEMPTS": "3",
        # Retries spread over about a second: a hiccup of the fake LLM (it shares the test
        # process and a busy CPU) must not exhaust a message's three attempts in 150 ms.
        "AI_RETRY_BASE_SECONDS": "0.25",
        "SWEEP_AFTER_SECONDS": "30",
        "SWEEP_INTERVAL_SECONDS": "2",
        "RATE_LIMIT_MESSAGES": "1000000/minute",
        "RATE_LIMIT_LOGIN": "1000000/minute",
        "RPC_TIMEOUT": "5",
        "LOG_LEVEL": "WARNING",
    }
    workdir: Path = tmp_path_factory.mktemp("faults")
    with infra_or_fail() as infra, run_stack(infra, workdir, **settings) as stack:
        yield stack


@pytest.fixture(scope="module")
def clients(fault_stack: Stack) -> list[tuple[User, str]]:
    """A few customers, each with a chat, to spread a burst over."""
    with httpx.Client(base_url=fault_stack.base_url, timeout=30) as api:
        users = [sign_up(api) for _ in range(6)]
        return [(user, new_chat(api, user)) for user in users]


@pytest.fixture
def record() -> list[Report]:
    return REPORTS


def run(coroutine: object) -> object:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not REPORTS:
        return
    terminalreporter.section("fault suite: what came out of each fault")
    terminalreporter.write_line(Report.HEADER)
    for report in REPORTS:
        terminalreporter.write_line(report.row)
        for note in report.notes:
            terminalreporter.write_line(f"    {note}")
