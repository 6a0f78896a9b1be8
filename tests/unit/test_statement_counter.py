"""db_statements_total and db_transactions_total: what a statement is, and how the query logger
of a connection tells explicit transactions from statements run outside one."""

from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from servicekit.db import _DriverStatements, statement_kind


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("SELECT users.users.id FROM users.users", "select"),
        ("  (SELECT 1) UNION (SELECT 2)", "select"),
        ("select 1", "select"),
        ("INSERT INTO t VALUES ($1)", "insert"),
        ("UPDATE t SET x = 1", "update"),
        ("DELETE FROM t", "delete"),
        ("BEGIN;", "begin"),
        ("BEGIN ISOLATION LEVEL READ COMMITTED;", "begin"),
        ("START TRANSACTION", "begin"),
        ("COMMIT;", "commit"),
        ("END", "commit"),
        ("ROLLBACK;", "rollback"),
        ("ROLLBACK TO asyncpg_1;", "savepoint"),
        ("SAVEPOINT asyncpg_1;", "savepoint"),
        ("RELEASE SAVEPOINT asyncpg_1;", "savepoint"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "other"),
        (";", "other"),
        ("", "other"),
    ],
)
def test_a_statement_is_known_by_its_first_keyword(sql: str, kind: str) -> None:
    assert statement_kind(sql) == kind


def _value(name: str, kind: str) -> float:
    return REGISTRY.get_sample_value(name, {"kind": kind}) or 0.0


def test_the_query_logger_counts_statements_and_tells_transactions_apart() -> None:
    names = [("db_statements_total", k) for k in ("select", "begin", "commit", "savepoint")]
    names += [("db_transactions_total", k) for k in ("explicit", "implicit")]
    before = {name: _value(*name) for name in names}
    logger = _DriverStatements()
    for query in [
        "SELECT 1",  # on its own: an implicit transaction
        "BEGIN;",
        "SELECT 2",
        "SAVEPOINT asyncpg_1;",
        "RELEASE SAVEPOINT asyncpg_1;",
        "COMMIT;",
        "SELECT 3",  # on its own again
    ]:
        logger(SimpleNamespace(query=query))
    gained = {name: _value(*name) - before[name] for name in names}
    assert gained == {
        ("db_statements_total", "select"): 3.0,
        ("db_statements_total", "begin"): 1.0,
        ("db_statements_total", "commit"): 1.0,
        ("db_statements_total", "savepoint"): 2.0,
        ("db_transactions_total", "explicit"): 1.0,
        ("db_transactions_total", "implicit"): 2.0,
    }
