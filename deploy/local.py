"""``make run``: a small, faithful deployment on this machine.

Checks that Postgres and RabbitMQ answer, creates the database if missing, migrates every
schema, then runs each service as its own process under the supervisor, which starts again any
that dies (as Kubernetes would) while the others go on. Ctrl-C stops them all.
"""

import asyncio
import os
import sys

import aio_pika
import asyncpg
from sqlalchemy.engine import make_url

from deploy.runner import ProcessSpec, Supervisor
from gateway.settings import GatewaySettings
from servicekit.db import asyncpg_dsn
from servicekit.migrations import ensure_database, upgrade_all

PROCESSES = (
    ("users", "users_service"),
    ("chat", "chat_service"),
    ("tickets", "ticket_service"),
    ("ai", "ai_worker"),
    ("gateway", "gateway"),
)


METRICS_PORTS = {"users": 9101, "chat": 9102, "tickets": 9103, "ai": 9104}
"""Where each service without an HTTP port serves /metrics (the gateway: on its own port)."""


def process_specs(
    python: str = sys.executable, metrics_ports: dict[str, int] | None = None
) -> list[ProcessSpec]:
    """One process per service, each ``python -m <package>``."""
    ports = METRICS_PORTS if metrics_ports is None else metrics_ports
    return [
        ProcessSpec(
            name,
            [python, "-m", module],
            {"METRICS_PORT": str(ports[name])} if name in ports else None,
        )
        for name, module in PROCESSES
    ]


async def unreachable(settings: GatewaySettings) -> list[str]:
    """What does not answer, each with what to do about it."""
    problems = []
    admin_url = make_url(settings.database_url).set(database="postgres")
    try:
        connection = await asyncpg.connect(
            asyncpg_dsn(admin_url.render_as_string(hide_password=False)), timeout=5
        )
        await connection.close()
    except (OSError, asyncpg.PostgresError) as exc:
        problems.append(
            f"PostgreSQL at {admin_url.render_as_string()} does not answer ({exc}).\n"
            "  Start it (Debian: pg_ctlcluster 15 main start) or set DATABASE_URL."
        )
    try:
        connection = await aio_pika.connect(settings.amqp_url, timeout=5)
        await connection.close()
    except (OSError, aio_pika.exceptions.AMQPError, TimeoutError) as exc:
        problems.append(
            f"RabbitMQ at {make_url(settings.amqp_url.replace('amqp', 'postgresql', 1)).host}"
            f" does not answer ({exc or type(exc).__name__}).\n"
            "  Start it (Debian: rabbitmq-server -detached) or set AMQP_URL."
        )
    return problems


def main() -> None:
    settings = GatewaySettings()
    problems = asyncio.run(unreachable(settings))
    if problems:
        sys.exit("Cannot start:\n" + "\n".join(problems))
    asyncio.run(ensure_database(settings.database_url))
    upgrade_all(settings.database_url)
    base = f"http://{settings.gateway_host}:{settings.gateway_port}"
    admin = os.environ.get("BOOTSTRAP_ADMIN_EMAIL")
    print(
        f"\n  API          {base}/api\n  Docs         {base}/api/docs\n"
        f"  Readiness    {base}/api/ready\n"
        f"  Metrics      {base}/metrics, and :9101-9104/metrics (users, chat, tickets, ai)\n"
        + (f"  Admin login  {admin} (password from BOOTSTRAP_ADMIN_PASSWORD)\n" if admin else "")
        + "  Stop         Ctrl-C\n",
        flush=True,
    )
    asyncio.run(Supervisor(process_specs()).run_forever())


if __name__ == "__main__":
    main()
