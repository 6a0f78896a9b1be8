"""Every schema's migrations go down to nothing and up again, and the head has what the code
relies on: an outbox without the NOTIFY trigger and the time index the first migrations made."""

import asyncio

import asyncpg
from alembic import command

from servicekit.migrations import service_config, service_sections, upgrade_all
from support.infra import infra_or_fail

SCHEMAS = ("users", "chat", "tickets")
"""The services with migrations; each names its schema after itself."""


async def _catalog(dsn: str) -> tuple[set[str], set[str], set[str]]:
    """The tables and their indexes, the triggers, and the functions and types of the services'
    schemas, as ``schema.name`` (Alembic's version tables left out)."""
    connection = await asyncpg.connect(dsn)
    try:
        tables = await connection.fetch(
            "SELECT schemaname || '.' || tablename AS name FROM pg_tables"
            " WHERE schemaname = ANY($1::text[]) AND tablename <> 'alembic_version'"
            " UNION ALL SELECT schemaname || '.' || indexname FROM pg_indexes"
            " WHERE schemaname = ANY($1::text[]) AND tablename <> 'alembic_version'",
            list(SCHEMAS),
        )
        triggers = await connection.fetch(
            "SELECT n.nspname || '.' || t.tgname AS name FROM pg_trigger t"
            " JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE NOT t.tgisinternal AND n.nspname = ANY($1::text[])",
            list(SCHEMAS),
        )
        routines_and_types = await connection.fetch(
            "SELECT n.nspname || '.' || p.proname AS name FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY($1::text[])"
            " UNION ALL SELECT n.nspname || '.' || t.typname FROM pg_type t"
            " JOIN pg_namespace n ON n.oid = t.typnamespace"
            " WHERE n.nspname = ANY($1::text[]) AND t.typtype = 'e'",
            list(SCHEMAS),
        )
    finally:
        await connection.close()
    return (
        {row["name"] for row in tables},
        {row["name"] for row in triggers},
        {row["name"] for row in routines_and_types},
    )


def test_migrations_go_down_and_up_again() -> None:
    assert set(service_sections()) == set(SCHEMAS)
    with infra_or_fail() as infra:
        upgrade_all(infra.database_url)
        head = asyncio.run(_catalog(infra.dsn))
        tables, triggers, _ = head
        assert {f"{schema}.outbox" for schema in SCHEMAS} <= tables
        assert not {name for name in triggers if name.endswith(".outbox_notify")}
        assert not {name for name in tables if name.endswith(".ix_outbox_occurred_at")}
        assert {f"{schema}.ix_outbox_seq" for schema in SCHEMAS} <= tables

        for section in SCHEMAS:
            command.downgrade(service_config(section, infra.database_url), "base")
        assert asyncio.run(_catalog(infra.dsn)) == (set(), set(), set())

        upgrade_all(infra.database_url)
        assert asyncio.run(_catalog(infra.dsn)) == head
