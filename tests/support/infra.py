"""Postgres and RabbitMQ for a test run (see ``deploy.sandbox``), failing loudly if absent."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from deploy.sandbox import Infra, SandboxUnavailable, provide_infra

__all__ = ["Infra", "infra_or_fail"]


@contextmanager
def infra_or_fail() -> Iterator[Infra]:
    """Never a silent skip: no Postgres and RabbitMQ is a failure that says what to start."""
    try:
        with provide_infra() as infra:
            yield infra
    except SandboxUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
