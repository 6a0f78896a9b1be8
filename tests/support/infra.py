"""Postgres and RabbitMQ for a test run: the local ones when they answer (as on CI),
testcontainers when a Docker engine works, otherwise a clear failure. Never a silent skip.

Each run gets its own database and its own RabbitMQ vhost, so runs never see each other's data.
"""

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import asyncpg
import pytest

PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_BASE = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


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
        pytest.fail("RabbitMQ answers but rabbitmqctl is missing: cannot make a test vhost")
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
        pytest.fail(
            "The tests need PostgreSQL and RabbitMQ: neither local services on 127.0.0.1:5432 "
            "and :5672 answer, nor does a Docker engine for testcontainers. Start them "
            "(bash deploy/ensure-local-services.sh) or start Docker.",
            pytrace=False,
        )
