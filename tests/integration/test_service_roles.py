"""Each service connects as its own Postgres role, with rights on its own schema alone.

The whole test system already runs this way (``deploy.sandbox`` gives each service the role
``<schema>_service``); this shows what those roles may and may not touch."""

import asyncio

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from support.stack import Stack


def _as(stack: Stack, role: str, statement: str) -> object:
    url = make_url(stack.infra.dsn).set(username=role, password=None)

    async def run() -> object:
        connection = await asyncpg.connect(url.render_as_string(hide_password=False))
        try:
            return await connection.fetchval(statement)
        finally:
            await connection.close()

    return asyncio.run(run())


@pytest.mark.parametrize(
    ("role", "own", "others"),
    [
        ("users_service", "users.users", ["chat.messages", "chat.chats", "tickets.tickets"]),
        (
            "chat_service",
            "chat.messages",
            ["users.users", "users.refresh_tokens", "tickets.tickets"],
        ),
        ("tickets_service", "tickets.tickets", ["users.users", "chat.messages"]),
    ],
)
def test_a_service_role_reads_its_schema_and_nothing_else(
    stack: Stack, role: str, own: str, others: list[str]
) -> None:
    assert isinstance(_as(stack, role, f"SELECT count(*) FROM {own}"), int)
    for table in others:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            _as(stack, role, f"SELECT count(*) FROM {table}")


def test_the_services_really_run_as_their_roles(stack: Stack) -> None:
    connected = _as(
        stack,
        "postgres",
        "SELECT string_agg(DISTINCT usename || ':' || application_name, ',' ORDER BY"
        " usename || ':' || application_name) FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name IN ('users', 'chat', 'tickets')",
    )
    assert connected == "chat_service:chat,tickets_service:tickets,users_service:users"


def test_a_service_role_cannot_change_the_schema(stack: Stack) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        _as(stack, "chat_service", "DROP TABLE chat.messages")
