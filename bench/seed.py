"""Users and tickets written straight into a sandbox database, a million of each in well
under a minute: ``INSERT ... SELECT FROM generate_series`` on the server, on two connections,
ids derived from the row number, and one precomputed password hash for every user (argon2 per
row would take hours).

Rows are numbered: seeded user ``i`` (id ``md5('user <i>')``) is
``<first>.<last>.<i>@example.com``, created ``i`` minutes before the first, an agent when ``i``
is a multiple of 100, else a customer (one in a hundred soft-deleted); ticket ``i`` is created
``30 i`` seconds before the first, owned by customer ``i`` (or ``i + 1``) and, unless open,
assigned to an agent. Growing from ``n`` to ``m`` rows adds rows ``n..m-1``, older ones. A batch
larger than the table drops the table's indexes (those not backing a constraint) and builds
them again afterwards, as a bulk load does; ``VACUUM (ANALYZE)`` then leaves the tables as
autovacuum would in steady state.

Tickets refer to chat messages and users by id only (no foreign key across schemas), so a
ticket's ``message_id`` and ``chat_id`` need no chat rows.
"""

import asyncio
import hashlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from argon2 import PasswordHasher

from contracts.enums import IssueType
from servicekit.pagination import encode_cursor

SEED_PASSWORD = "Seeded-password-1"
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Ken", "Dennis")
LAST_NAMES = (
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Thompson",
    "Ritchie",
    "Hoare",
    "Wirth",
)
CONNECTIONS = 2
SESSION = (
    "SET synchronous_commit = off; SET work_mem = '256MB';"
    " SET maintenance_work_mem = '512MB'; SET max_parallel_maintenance_workers = 0"
)

USERS = """
INSERT INTO users.users
    (id, email, full_name, role, password_hash, created_at, updated_at, deleted_at)
SELECT md5('user ' || i)::uuid,
       lower(v.first) || '.' || lower(v.last) || '.' || i || '@example.com',
       v.first || ' ' || v.last,
       (CASE WHEN i % 100 = 0 THEN 'agent' ELSE 'customer' END)::users.user_role,
       $3, v.at, v.at,
       CASE WHEN i % 100 = 51 THEN v.at END
FROM generate_series($1::bigint, $2::bigint - 1) AS i,
     LATERAL (SELECT ($4::text[])[1 + i % 8] AS first,
                     ($5::text[])[1 + (i / 8) % 10] AS last,
                     now() - interval '1 hour' - i * interval '1 minute' AS at) AS v
"""

TICKETS = """
INSERT INTO tickets.tickets
    (message_id, chat_id, user_id, reporter_id, issue_type, status, priority, assignee_id,
     description, created_at, updated_at, resolved_at)
SELECT md5('message ' || i)::uuid, md5('chat ' || i / 2)::uuid, v.owner, v.owner,
       ($4::tickets.issue_type[])[1 + abs(hashint8(3 * i + 1)) % 6],
       v.status, v.priority,
       CASE WHEN v.status <> 'open'
            THEN md5('user ' || 100 * (abs(hashint8(i + 1)) % $3))::uuid END,
       'Seeded ticket ' || i,
       v.at,
       CASE WHEN v.status = 'resolved' THEN v.at + interval '30 minutes' ELSE v.at END,
       CASE WHEN v.status = 'resolved' THEN v.at + interval '30 minutes' END
FROM generate_series($1::bigint, $2::bigint - 1) AS i,
     LATERAL (
        SELECT md5('user ' || (i + (i % 100 = 0)::int))::uuid AS owner,
               (CASE abs(hashint8(i)) % 10 WHEN 0 THEN 'open' WHEN 1 THEN 'open'
                     WHEN 2 THEN 'in_progress' ELSE 'resolved' END
               )::tickets.ticket_status AS status,
               (CASE WHEN abs(hashint8(i + 7777777)) % 20 = 0 THEN 'urgent'
                     WHEN abs(hashint8(i + 7777777)) % 20 < 4 THEN 'high'
                     WHEN abs(hashint8(i + 7777777)) % 20 < 8 THEN 'low'
                     ELSE 'normal' END)::tickets.priority AS priority,
               now() - interval '1 hour' - i * interval '30 seconds' AS at
     ) AS v
"""
"""Ticket ``i`` belongs to user ``i`` (to user ``i + 1`` where ``i`` is an agent's number);
agents are the users numbered by hundreds; ``$3`` is how many there are."""
ISSUE_TYPES = [t.value for t in IssueType]
NAMES = (list(FIRST_NAMES), list(LAST_NAMES))

INDEXES = """
SELECT format('%I.%I', n.nspname, c.relname), pg_get_indexdef(i.indexrelid)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE i.indrelid = $1::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
ORDER BY pg_relation_size(i.indexrelid) DESC
"""
TABLES = ("users.users", "tickets.tickets")


def seeded_email(i: int) -> str:
    """The email of seeded user ``i`` (as ``USERS`` writes it)."""
    first, last = FIRST_NAMES[i % 8], LAST_NAMES[(i // 8) % 10]
    return f"{first.lower()}.{last.lower()}.{i}@example.com"


def seeded_user_id(i: int) -> uuid.UUID:
    """The id of seeded user ``i`` (``md5('user <i>')::uuid``, as ``USERS`` writes it)."""
    return uuid.UUID(hashlib.md5(f"user {i}".encode(), usedforsecurity=False).hexdigest())


def chunks(start: int, stop: int, parts: int) -> list[tuple[int, int]]:
    """``[start, stop)`` cut into at most ``parts`` contiguous, non-empty ranges."""
    size = -(-(stop - start) // parts) if stop > start else 0
    return [(lo, min(lo + size, stop)) for lo in range(start, stop, size)] if size else []


@dataclass
class Growth:
    rows: int
    seconds: float
    steps: dict[str, float]
    """Seconds of each step: ``users``, ``users indexes`` (if rebuilt), ``tickets``, ..."""

    @property
    def users_seconds(self) -> float:
        """Inserting the users and building their indexes."""
        return self.steps.get("users", 0.0) + self.steps.get("users indexes", 0.0)


Job = tuple[str, tuple[object, ...]]
"""A statement and its arguments."""


async def _on_each(connections: Sequence[asyncpg.Connection], jobs: Sequence[Job]) -> None:
    """Run ``jobs`` on ``connections``, each connection taking the next job when free."""
    queue = list(jobs)

    async def worker(connection: asyncpg.Connection) -> None:
        while queue:
            statement, args = queue.pop(0)
            await connection.execute(statement, *args)

    await asyncio.gather(*(worker(c) for c in connections))


class Seeder:
    """Grows the seeded users and tickets of one database; remembers how many it wrote."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self.rows = 0
        self._hash = PasswordHasher().hash(SEED_PASSWORD)  # once, for every seeded user

    async def grow(self, rows: int) -> Growth:
        """Seed users and tickets up to ``rows`` each, indexes built and tables analyzed."""
        started, steps = time.monotonic(), {}
        connections = [await asyncpg.connect(self._dsn) for _ in range(CONNECTIONS)]
        try:
            for connection in connections:
                await connection.execute(SESSION)
            first = connections[0]
            indexes: dict[str, list[str]] = {table: [] for table in TABLES}
            if rows - self.rows > self.rows:  # a bulk load: build the indexes afterwards
                for table in TABLES:
                    for name, ddl in await first.fetch(INDEXES, table):
                        await first.execute(f"DROP INDEX {name}")
                        indexes[table].append(ddl)
            new = chunks(self.rows, rows, CONNECTIONS)
            agents = (rows + 99) // 100
            plan: list[tuple[str, list[Job]]] = [
                ("users", [(USERS, (lo, hi, self._hash, *NAMES)) for lo, hi in new]),
                ("users indexes", [(ddl, ()) for ddl in indexes["users.users"]]),
                ("tickets", [(TICKETS, (lo, hi, agents, ISSUE_TYPES)) for lo, hi in new]),
                ("tickets indexes", [(ddl, ()) for ddl in indexes["tickets.tickets"]]),
                ("vacuum analyze", [(f"VACUUM (ANALYZE) {table}", ()) for table in TABLES]),
            ]
            for name, jobs in plan:
                if jobs:
                    at = time.monotonic()
                    await _on_each(connections, jobs)
                    steps[name] = time.monotonic() - at
        finally:
            for connection in connections:
                await connection.close()
        self.rows = rows
        return Growth(rows, time.monotonic() - started, steps)


@dataclass(frozen=True)
class Targets:
    """What the list and search cases ask for, at the current size."""

    users_deep_cursor: str
    tickets_deep_cursor: str
    ticket_owner: str


async def targets(dsn: str, rows: int) -> Targets:
    """Cursors to the middle of each list (as the API would have returned after paging half
    way, made with the API's own ``encode_cursor``), and a customer who has a ticket."""
    connection = await asyncpg.connect(dsn)
    try:
        user = await connection.fetchrow(
            "SELECT created_at, id FROM users.users WHERE deleted_at IS NULL"
            " ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1",
            rows // 2,
        )
        ticket = await connection.fetchrow(
            "SELECT created_at, id FROM tickets.tickets"
            " ORDER BY created_at DESC, id DESC OFFSET $1 LIMIT 1",
            rows // 2,
        )
    finally:
        await connection.close()
    return Targets(
        users_deep_cursor=encode_cursor(user["created_at"], user["id"]),
        tickets_deep_cursor=encode_cursor(ticket["created_at"], ticket["id"]),
        ticket_owner=str(seeded_user_id(1)),  # the owner of ticket 0, the newest
    )
