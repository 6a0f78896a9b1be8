"""Fixtures: one running system per test session, clients and users to drive it."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.api import User, admin_user, sign_up
from support.infra import Infra, infra_or_fail
from support.stack import Stack, run_stack


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with infra_or_fail() as provided:
        yield provided


@pytest.fixture(scope="session")
def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with run_stack(infra, tmp_path_factory.mktemp("stack")) as running:
        yield running


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
