"""The hot statements keep their indexes in the plan Postgres settles on.

A prepared statement is planned for its values five times, then, from the sixth execution
on, usually once for all (a generic plan). A partial index whose predicate depends on a bound
value cannot serve that plan: posting in a chat then read every message the chat ever had,
and a long chat's posts got slower with each message. The plan is checked as Postgres makes it
for the sixth execution on (``plan_cache_mode = force_generic_plan``)."""

import asyncio
import re

import asyncpg
from sqlalchemy import text

from chat_service.messages.repository import _ADD
from servicekit.db import Sql, make_engine
from support.stack import Stack
from ticket_service.settings import TicketSettings
from users_service.settings import UsersSettings


def _generic_plan(stack: Stack, sql: Sql) -> str:
    params = max(int(n) for n in re.findall(r"\$(\d+)", sql.text))

    async def explain() -> str:
        connection = await asyncpg.connect(stack.infra.dsn)
        try:
            await connection.execute("SET plan_cache_mode = force_generic_plan")
            await connection.execute(f"PREPARE hot AS {sql.text}")
            rows = await connection.fetch(f"EXPLAIN EXECUTE hot({', '.join(['NULL'] * params)})")
            return "\n".join(row[0] for row in rows)
        finally:
            await connection.close()

    return asyncio.run(explain())


def test_posting_reads_the_recent_turns_from_the_sealed_turns_index(stack: Stack) -> None:
    plan = _generic_plan(stack, _ADD)
    assert "ix_messages_sealed_turns" in plan, plan
    assert "Seq Scan on messages" not in plan, plan


def test_searches_and_filtered_lists_are_planned_for_their_values(stack: Stack) -> None:
    """How many rows a search term or a filter matches decides the plan: a rare term wants
    the trigram indexes, a common one the newest-first index. The one generic plan ``auto``
    settles on walked a whole table for a rare term, so the users and ticket services plan
    each statement for its values, and an engine made with their settings does so."""
    users, tickets = UsersSettings(), TicketSettings()
    assert users.db_plan_cache_mode == tickets.db_plan_cache_mode == "force_custom_plan"

    async def mode() -> str:
        engine = make_engine(
            stack.infra.database_url,
            pool_size=1,
            application_name="test",
            plan_cache_mode=users.db_plan_cache_mode,
        )
        try:
            async with engine.connect() as connection:
                return str(await connection.scalar(text("SHOW plan_cache_mode")))
        finally:
            await engine.dispose()

    assert asyncio.run(mode()) == "force_custom_plan"
