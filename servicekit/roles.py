"""One Postgres role per service, with rights on its own schema alone.

In a deployment each service connects as ``<schema>_service``: it can read and write its own
tables and nothing else, so a bug (or an intruder) in one service cannot reach another's data.
The migration step, which runs as the database owner, creates or updates the roles.
"""

import os

import asyncpg


def role_name(schema: str) -> str:
    return f"{schema}_service"


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def grant_service_roles(dsn: str, schemas: list[str]) -> None:
    """Create (or update) each schema's role; its password comes from ``<SCHEMA>_DB_PASSWORD``
    if set (else it can log in only where Postgres trusts the connection)."""
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        database = await connection.fetchval("SELECT current_database()")
        for schema in schemas:
            role = _quote(role_name(schema))
            password = os.environ.get(f"{schema.upper()}_DB_PASSWORD")
            exists = await connection.fetchval(
                "SELECT 1 FROM pg_roles WHERE rolname = $1", role_name(schema)
            )
            verb = "ALTER" if exists else "CREATE"
            login = "LOGIN" + (" PASSWORD " + _literal(password) if password else "")
            await connection.execute(f"{verb} ROLE {role} {login}")
            s = _quote(schema)
            for statement in (
                f"GRANT CONNECT ON DATABASE {_quote(database)} TO {role}",
                f"REVOKE ALL ON SCHEMA {s} FROM PUBLIC",
                f"GRANT USAGE ON SCHEMA {s} TO {role}",
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {role}",
                f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {role}",
                f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {s} TO {role}",
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s}"
                f" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
                f"ALTER DEFAULT PRIVILEGES IN SCHEMA {s}"
                f" GRANT USAGE, SELECT ON SEQUENCES TO {role}",
            ):
                await connection.execute(statement)
    finally:
        await connection.close()


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
