"""The running system of a test session (see ``deploy.sandbox``)."""

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from deploy.sandbox import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    JWT_SECRET,
    ROOT,
    Stack,
    free_port,
    run_stack,
)

__all__ = [
    "ADMIN_EMAIL",
    "ADMIN_PASSWORD",
    "JWT_SECRET",
    "ROOT",
    "Stack",
    "extra_gateway",
    "free_port",
    "run_stack",
]


@contextmanager
def extra_gateway(stack: Stack, workdir: Path, **settings: str) -> Iterator[str]:
    """One more gateway process on the same system, with ``settings``; yields its base URL."""
    port = free_port()
    env = {**stack.env, "GATEWAY_PORT": str(port), **settings}
    with (workdir / f"gateway-{port}.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)
