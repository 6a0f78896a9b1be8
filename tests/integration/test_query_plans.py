"""The hot statements keep their indexes in the plan Postgres settles on.

A prepared statement is planned for its values five times, then, from the sixth execution
on, usually once for all (a generic plan). A partial index whose predicate depends on a bound
value cannot serve that plan: posting in a chat then read every message the chat ever had,
and a long chat's posts got slower with each message. The plan is checked as Postgres makes it
for the sixth execution on (``plan_cache_mode = force_generic_plan``)."""

import asyncio
import re

import asyncpg

from chat_service.repository import _ADD
from servicekit.db import Sql
from support.stack import Stack


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
