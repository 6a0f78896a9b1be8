"""A throwaway copy of the whole system, for the tests and the benchmarks.

Postgres and RabbitMQ come from this machine when they answer (as on CI), else from
testcontainers when a Docker engine works; otherwise ``SandboxUnavailable`` says what to start.
Each sandbox gets its own database and its own RabbitMQ vhost, so runs never see each other's
data, and runs every service as its own process under the supervisor, as ``make run`` does.
"""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from deploy.local import METRICS_PORTS, process_specs
from servicekit.migrations import service_sections
from servicekit.roles import role_name

PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_BASE = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


class SandboxUnavailable(RuntimeError):
    """Neither local services nor Docker can provide Postgres and RabbitMQ."""


@dataclass(frozen=True)
class Infra:
    database_url: str  # SQLAlchemy form, for the services
    dsn: str  # plain libpq form, for asyncpg in tests
    amqp_url: str


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=2):
        return True
    return False


async def _sql(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@contextlib.contextmanager
def local_infra() -> Iterator[Infra]:
    """A fresh database and vhost on the local Postgres and RabbitMQ."""
    if shutil.which("rabbitmqctl") is None:
        raise SandboxUnavailable("RabbitMQ answers but rabbitmqctl is missing: cannot make a vhost")
    run_id = uuid.uuid4().hex[:10]
    database, vhost = f"support_test_{run_id}", f"test_{run_id}"
    asyncio.run(_sql(PG_ADMIN, f'CREATE DATABASE "{database}"'))
    _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    dsn = PG_ADMIN.rsplit("/", 1)[0] + f"/{database}"
    try:
        yield Infra(
            database_url=dsn.replace("postgresql://", "postgresql+asyncpg://", 1),
            dsn=dsn,
            amqp_url=AMQP_BASE.rstrip("/") + "/" + quote(vhost, safe=""),
        )
    finally:
        with contextlib.suppress(Exception):
            _rabbitmqctl("delete_vhost", vhost)
        with contextlib.suppress(Exception):
            asyncio.run(_sql(PG_ADMIN, f'DROP DATABASE "{database}" WITH (FORCE)'))


@contextlib.contextmanager
def container_infra() -> Iterator[Infra]:
    """Postgres and RabbitMQ in containers (where a Docker engine runs)."""
    from testcontainers.postgres import PostgresContainer
    from testcontainers.rabbitmq import RabbitMqContainer

    with (
        PostgresContainer("postgres:15", driver=None) as pg,
        RabbitMqContainer("rabbitmq:3.13") as mq,
    ):
        dsn = pg.get_connection_url()
        host, port = mq.get_container_host_ip(), mq.get_exposed_port(5672)
        yield Infra(
            database_url=dsn.replace("postgresql://", "postgresql+asyncpg://", 1),
            dsn=dsn,
            amqp_url=f"amqp://guest:guest@{host}:{port}/",
        )


def docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    return probe.returncode == 0


@contextlib.contextmanager
def provide_infra() -> Iterator[Infra]:
    if _port_open("127.0.0.1", 5432) and _port_open("127.0.0.1", 5672):
        with local_infra() as infra:
            yield infra
    elif docker_works():
        with container_infra() as infra:
            yield infra
    else:
        raise SandboxUnavailable(
            "PostgreSQL and RabbitMQ are needed: neither local services on 127.0.0.1:5432 "
            "and :5672 answer, nor does a Docker engine for testcontainers. Start them "
            "(bash deploy/ensure-local-services.sh) or start Docker."
        )


ROOT = Path(__file__).resolve().parents[1]
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
    metrics_ports: dict[str, int]

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
        [sys.executable, "-m", "servicekit.migrations", "--service-roles"],
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


def own_role(infra: Infra, process: str) -> dict[str, str] | None:
    """A service that owns a schema connects as that schema's role, as in a deployment."""
    if process not in service_sections():
        return None
    url = make_url(infra.database_url).set(username=role_name(process), password=None)
    return {"DATABASE_URL": url.render_as_string(hide_password=False)}


@contextlib.contextmanager
def run_stack(infra: Infra, workdir: Path, **extra_env: str) -> Iterator[Stack]:
    """Migrate, start every service under the supervisor, wait until ready; stop at the end."""
    port = free_port()
    env = service_env(infra, GATEWAY_PORT=str(port), **extra_env)
    migrate(env)
    spec = workdir / "processes.json"
    metrics_ports = {name: free_port() for name in METRICS_PORTS}
    specs = process_specs(metrics_ports=metrics_ports)
    spec.write_text(
        json.dumps(
            [
                {
                    "name": s.name,
                    "argv": list(s.argv),
                    "env": {**(s.env or {}), **(own_role(infra, s.name) or {})},
                }
                for s in specs
            ]
        )
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
        yield Stack(
            base_url=base_url,
            infra=infra,
            env=env,
            log=log,
            runner_pid=runner.pid,
            metrics_ports=metrics_ports,
        )
    finally:
        runner.send_signal(signal.SIGTERM)
        try:
            runner.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
