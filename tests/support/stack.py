"""The whole system as separate processes, the way ``make run`` runs it."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from deploy.local import process_specs
from support.infra import Infra

ROOT = Path(__file__).resolve().parents[2]
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "Admin-password-1"
JWT_SECRET = "test-secret-0123456789abcdef0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Stack:
    base_url: str
    infra: Infra
    env: dict[str, str]
    log: Path
    runner_pid: int

    def service_pid(self, module: str) -> int:
        """The pid of the running process of ``python -m <module>``."""
        children = Path(f"/proc/{self.runner_pid}/task/{self.runner_pid}/children").read_text()
        for pid in children.split():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if module.encode() in cmdline:
                return int(pid)
        raise LookupError(f"no running {module}")


def service_env(infra: Infra, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": infra.database_url,
        "AMQP_URL": infra.amqp_url,
        "JWT_SECRET": JWT_SECRET,
        "BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
        "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "OUTBOX_POLL_SECONDS": "0.5",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "servicekit.migrations"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )


def wait_ready(base_url: str, log: Path, timeout: float = 90) -> None:
    deadline, last = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{base_url}/api/ready", timeout=3)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.3)
    tail = log.read_text()[-4000:] if log.exists() else ""
    raise RuntimeError(f"system not ready after {timeout}s: {last}\n--- log tail ---\n{tail}")


@contextmanager
def run_stack(infra: Infra, workdir: Path, **extra_env: str) -> Iterator[Stack]:
    """Migrate, start every service under the supervisor, wait until ready; stop at the end."""
    port = free_port()
    env = service_env(infra, GATEWAY_PORT=str(port), **extra_env)
    migrate(env)
    spec = workdir / "processes.json"
    spec.write_text(
        json.dumps([{"name": s.name, "argv": list(s.argv), "env": None} for s in process_specs()])
    )
    log = workdir / "stack.log"
    with log.open("ab") as out:
        runner = subprocess.Popen(
            [sys.executable, "-m", "deploy.runner", "--spec-file", str(spec)],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url, log)
        yield Stack(base_url=base_url, infra=infra, env=env, log=log, runner_pid=runner.pid)
    finally:
        runner.send_signal(signal.SIGTERM)
        try:
            runner.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
