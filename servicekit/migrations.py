"""Alembic, once per service: each schema has its own migrations and its own version table.

``alembic.ini`` has one section per service (``alembic -n users upgrade head``); each service's
``migrations/env.py`` calls ``run_env``. ``python -m servicekit.migrations`` creates the
database if it is missing and upgrades every schema: what ``make run`` and the tests do.
"""

import argparse
import asyncio
import configparser
import logging
import os
import sys
from pathlib import Path

import asyncpg
import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from servicekit.db import asyncpg_dsn
from servicekit.outbox import notify_trigger_ddl
from servicekit.roles import grant_service_roles, role_name
from servicekit.settings import ServiceSettings

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


def run_env(metadata: MetaData, schema: str) -> None:
    """The body of a service's ``env.py``: migrate its schema, online, with asyncpg."""
    url = context.config.get_main_option("sqlalchemy.url") or ServiceSettings().database_url

    def migrate(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=True,
            include_name=lambda name, type_, _: type_ != "schema" or name == schema,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as connection:
            await connection.run_sync(migrate)
        await engine.dispose()

    asyncio.run(run_async())


def create_outbox(schema: str) -> None:
    """Migration step: the outbox table of ``schema`` and its NOTIFY trigger."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("data", postgresql.JSONB(), nullable=False),
        sa.Column(
            "occurred_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        schema=schema,
    )
    _add_time_index_and_notify(schema)


def _add_time_index_and_notify(schema: str) -> None:
    """What the first migrations gave the outbox beside its table, and a later one took away
    (``lighten_outbox``): an index on ``occurred_at`` and the NOTIFY trigger."""
    op.create_index("ix_outbox_occurred_at", "outbox", ["occurred_at"], schema=schema)
    for statement in notify_trigger_ddl(schema):
        op.execute(statement)


def drop_outbox(schema: str) -> None:
    """Migration step: undo ``create_outbox``. (A downgrade leaves the schema itself, which holds
    Alembic's version table.)"""
    op.drop_table("outbox", schema=schema)
    op.execute(f"DROP FUNCTION IF EXISTS {schema}.outbox_notify()")


def add_outbox_order(schema: str) -> None:
    """Migration step: a sequence number on the outbox, so events leave in the order written
    (rows of one transaction share ``occurred_at``)."""
    op.execute(f"ALTER TABLE {schema}.outbox ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY")
    op.create_index("ix_outbox_seq", "outbox", ["seq"], schema=schema)


def add_outbox_trace_context(schema: str) -> None:
    """Migration step: the trace context an event was recorded in (W3C ``traceparent`` and
    ``tracestate``), so that the work it causes joins the trace of the request that caused it."""
    op.add_column("outbox", sa.Column("traceparent", sa.Text(), nullable=True), schema=schema)
    op.add_column("outbox", sa.Column("tracestate", sa.Text(), nullable=True), schema=schema)


def lighten_outbox(schema: str) -> None:
    """Migration step: less work for Postgres per event.

    - No NOTIFY per insert: the process that commits the rows wakes its relay itself
      (``servicekit.outbox.committed``).
    - No index on ``occurred_at``: nothing reads the outbox by time (the relay goes by ``seq``),
      and every event paid for it."""
    op.execute(f"DROP TRIGGER IF EXISTS outbox_notify ON {schema}.outbox")
    op.execute(f"DROP FUNCTION IF EXISTS {schema}.outbox_notify()")
    op.drop_index("ix_outbox_occurred_at", "outbox", schema=schema)


def restore_outbox(schema: str) -> None:
    """Undo ``lighten_outbox``."""
    _add_time_index_and_notify(schema)


def drop_outbox_trace_context(schema: str) -> None:
    op.drop_column("outbox", "tracestate", schema=schema)
    op.drop_column("outbox", "traceparent", schema=schema)


async def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if it does not exist yet."""
    target = make_url(url)
    admin = asyncpg_dsn(target.set(database="postgres").render_as_string(hide_password=False))
    connection = await asyncpg.connect(admin, timeout=5)
    try:
        exists = await connection.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", target.database
        )
        if not exists:
            await connection.execute(f'CREATE DATABASE "{target.database}"')
            log.info("created database %s", target.database)
    finally:
        await connection.close()


def service_sections() -> list[str]:
    """The services that have migrations: the sections of ``alembic.ini`` with a script."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "alembic.ini")
    return [name for name in parser.sections() if parser.has_option(name, "script_location")]


def service_config(section: str, url: str) -> Config:
    """Alembic's configuration of one service's migrations (a section of ``alembic.ini``),
    on the database at ``url``, from any working directory."""
    config = Config(str(ROOT / "alembic.ini"), ini_section=section)
    location = config.get_main_option("script_location") or ""
    config.set_main_option("script_location", str(ROOT / location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_all(url: str) -> None:
    """``alembic upgrade head`` for every service's schema."""
    for section in service_sections():
        command.upgrade(service_config(section, url), "head")
        log.info("schema %s migrated", section)


def main() -> None:
    parser = argparse.ArgumentParser(description="Create the database if missing; migrate it.")
    parser.add_argument(
        "--service-roles",
        action="store_true",
        help="also create a role per service (<schema>_service) with rights on its schema alone",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    url = os.environ.get("DATABASE_URL") or ServiceSettings().database_url
    try:
        asyncio.run(ensure_database(url))
    except OSError as exc:
        sys.exit(f"cannot reach Postgres at {make_url(url).render_as_string()}: {exc}")
    upgrade_all(url)
    if args.service_roles:
        asyncio.run(grant_service_roles(asyncpg_dsn(url), service_sections()))
        log.info("service roles granted: %s", ", ".join(map(role_name, service_sections())))


if __name__ == "__main__":
    main()
