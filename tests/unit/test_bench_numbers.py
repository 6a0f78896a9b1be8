"""The bench's arithmetic: Prometheus text into numbers, deltas, histogram buckets, SQL per
request, CPU per request, the targets, and the seeding's ranges."""

import hashlib
import math
import os
import time
import uuid
from pathlib import Path

import pytest

from bench import cpu
from bench.analysis import (
    fmt_bounds,
    no_slower,
    parse_rows,
    rows_label,
    server_side,
    sql_per_request,
    statements_met,
)
from bench.load import Result
from bench.probes import Case, Probe
from bench.prom import Histogram, by_label, delta, histogram, parse, prefixed, total
from bench.seed import chunks, seeded_email, seeded_user_id
from bench.tables import cpu_table

BEFORE = """\
# HELP rpc_handler_duration_seconds Commands answered, by queue and outcome
# TYPE rpc_handler_duration_seconds histogram
rpc_handler_duration_seconds_bucket{le="0.001",outcome="ok",queue="users.list"} 1.0
rpc_handler_duration_seconds_bucket{le="0.005",outcome="ok",queue="users.list"} 2.0
rpc_handler_duration_seconds_bucket{le="0.01",outcome="ok",queue="users.list"} 2.0
rpc_handler_duration_seconds_bucket{le="+Inf",outcome="ok",queue="users.list"} 2.0
rpc_handler_duration_seconds_count{outcome="ok",queue="users.list"} 2.0
rpc_handler_duration_seconds_sum{outcome="ok",queue="users.list"} 0.004
# HELP db_statements_total SQL statements
# TYPE db_statements_total counter
db_statements_total{kind="select"} 10.0
db_statements_total{kind="begin"} 4.0
db_statements_created{kind="select"} 1.7e+09
"""

AFTER = """\
# HELP rpc_handler_duration_seconds Commands answered, by queue and outcome
# TYPE rpc_handler_duration_seconds histogram
rpc_handler_duration_seconds_bucket{le="0.001",outcome="ok",queue="users.list"} 1.0
rpc_handler_duration_seconds_bucket{le="0.005",outcome="ok",queue="users.list"} 92.0
rpc_handler_duration_seconds_bucket{le="0.01",outcome="ok",queue="users.list"} 101.0
rpc_handler_duration_seconds_bucket{le="+Inf",outcome="ok",queue="users.list"} 102.0
rpc_handler_duration_seconds_count{outcome="ok",queue="users.list"} 102.0
rpc_handler_duration_seconds_sum{outcome="ok",queue="users.list"} 0.404
rpc_handler_duration_seconds_bucket{le="0.001",outcome="error",queue="users.list"} 0.0
rpc_handler_duration_seconds_bucket{le="0.005",outcome="error",queue="users.list"} 0.0
rpc_handler_duration_seconds_bucket{le="0.01",outcome="error",queue="users.list"} 0.0
rpc_handler_duration_seconds_bucket{le="+Inf",outcome="error",queue="users.list"} 0.0
rpc_handler_duration_seconds_count{outcome="error",queue="users.list"} 0.0
rpc_handler_duration_seconds_sum{outcome="error",queue="users.list"} 0.0
# HELP db_statements_total SQL statements
# TYPE db_statements_total counter
db_statements_total{kind="select"} 110.0
db_statements_total{kind="begin"} 54.0
db_statements_total{kind="commit"} 50.0
db_statements_created{kind="select"} 1.7e+09
# HELP db_transactions_total Transactions
# TYPE db_transactions_total counter
db_transactions_total{kind="explicit"} 50.0
db_transactions_total{kind="implicit"} 50.0
"""


def test_prometheus_text_becomes_samples_keyed_by_name_and_labels() -> None:
    samples = parse(BEFORE)
    assert samples["db_statements_total", (("kind", "select"),)] == 10.0
    bucket = (("le", "0.005"), ("outcome", "ok"), ("queue", "users.list"))
    assert samples["rpc_handler_duration_seconds_bucket", bucket] == 2.0


def test_a_delta_is_what_the_run_added_and_new_series_count_from_zero() -> None:
    gained = delta(parse(AFTER), parse(BEFORE))
    assert by_label(gained, "db_statements_total", "kind") == {
        "select": 100.0,
        "begin": 50.0,
        "commit": 50.0,
    }
    assert total(gained, "db_statements_created") == 0.0
    assert total(gained, "rpc_handler_duration_seconds_count", queue="users.list") == 100.0


def test_a_histogram_sums_its_series_and_says_which_bucket_a_quantile_falls_in() -> None:
    gained = histogram(
        delta(parse(AFTER), parse(BEFORE)), "rpc_handler_duration_seconds", queue="users.list"
    )
    assert gained.count == 100.0
    assert gained.mean == pytest.approx(0.004)
    assert gained.quantile_bounds(0.5) == (0.001, 0.005)
    assert gained.quantile_bounds(0.99) == (0.005, 0.01)
    assert gained.quantile_bounds(1.0) == (0.01, math.inf)


def test_a_histogram_without_observations_has_no_quantile_or_mean() -> None:
    empty = Histogram(buckets=[(0.001, 0.0), (math.inf, 0.0)], count=0.0, sum=0.0)
    assert empty.quantile_bounds(0.99) is None
    assert empty.mean is None
    assert Histogram(buckets=[], count=0.0, sum=0.0).quantile_bounds(0.5) is None


def test_prefixed_keeps_the_api_routes_only() -> None:
    samples = parse(
        '# TYPE x counter\nx_total{route="/api/users"} 3.0\nx_total{route="/metrics"} 5.0\n'
    )
    assert total(prefixed(samples, "route", "/api/"), "x_total") == 3.0


def test_server_side_reads_the_handler_of_the_queue_in_milliseconds() -> None:
    deltas = {"users": delta(parse(AFTER), parse(BEFORE))}
    server = server_side(deltas, "users", "users.list")
    assert server.handler_p99 == pytest.approx((5.0, 10.0))
    assert server.handler_mean == pytest.approx(4.0)
    assert server.handled == 100.0
    assert server.gateway_p99 is None


def test_sql_per_request_splits_queries_from_transaction_control() -> None:
    deltas = {"users": delta(parse(AFTER), parse(BEFORE)), "gateway": {}}
    (users,) = sql_per_request(deltas, requests=50)
    assert users.service == "users"
    assert (users.statements, users.queries, users.control) == (4.0, 2.0, 2.0)
    assert (users.explicit, users.implicit, users.transactions) == (1.0, 1.0, 2.0)
    assert users.handled == {"users.list": 2.0}  # what the statements were for
    assert sql_per_request(deltas, requests=0) == []
    assert sql_per_request({"chat": parse(BEFORE)}, requests=1)[0].service == "chat"


def test_targets() -> None:
    assert statements_met(2.0) and statements_met(2.004) and not statements_met(2.01)
    assert no_slower(10.0, 12.5) and not no_slower(10.0, 12.6)
    assert no_slower(2.0, 3.0) and not no_slower(2.0, 3.1)  # the 1 ms slack


def test_rows_are_parsed_sorted_and_positive() -> None:
    assert parse_rows("10000,1000000") == [10_000, 1_000_000]
    assert parse_rows("1M, 10k,10_000") == [10_000, 1_000_000]
    assert parse_rows("") == []
    with pytest.raises(ValueError, match="positive"):
        parse_rows("0")
    with pytest.raises(ValueError, match="invalid literal"):
        parse_rows("many")


def test_labels_and_bounds_read_naturally() -> None:
    assert [rows_label(n) for n in (750, 10_000, 1_000_000, 2_500_000)] == [
        "750",
        "10k",
        "1M",
        "2.5M",
    ]
    assert fmt_bounds((10.0, 25.0)) == "10-25"
    assert fmt_bounds((5000.0, math.inf)) == "> 5000"
    assert fmt_bounds(None) == "n/a"


def test_chunks_cover_the_range_once_in_order() -> None:
    assert chunks(10_000, 1_000_000, 2) == [(10_000, 505_000), (505_000, 1_000_000)]
    assert chunks(0, 3, 2) == [(0, 2), (2, 3)]
    assert chunks(0, 1, 2) == [(0, 1)]
    assert chunks(5, 5, 2) == []


def test_seeded_rows_are_named_as_the_sql_writes_them() -> None:
    assert seeded_email(4242) == "alan.lovelace.4242@example.com"
    # md5('user 1')::uuid in Postgres: the md5 hex digest read as a uuid.
    expected = uuid.UUID(hashlib.md5(b"user 1", usedforsecurity=False).hexdigest())
    assert seeded_user_id(1) == expected


def test_cpu_is_read_per_process_and_divided_by_the_requests() -> None:
    me = os.getpid()
    assert me in cpu.pids_named(Path(f"/proc/{me}/comm").read_text().strip())
    before = cpu.snapshot(lambda: {"me": [me], "gone": [2**22 + 1]})
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:  # burn 200 ms of CPU
        pass
    after = cpu.snapshot(lambda: {"me": [me], "gone": [2**22 + 1]})
    used = cpu.per_request(before, after, requests=10)
    assert used["gone"] == 0.0
    # 20 ms a request, read in clock ticks (10 ms each, so a tick or two either way)
    assert 15.0 <= used["me"] <= 30.0, used
    assert cpu.per_request(before, after, requests=0) == {}


def test_the_cpu_table_sums_the_system_without_the_load_generator() -> None:
    case = Case("GET /x", "/x", "users", "users.get")
    probe = Probe(
        case, 32, Result(32, 1.0), {}, {"gateway": 0.5, "postgres": 0.25, "load generator": 9.0}
    )
    rows = cpu_table([probe])
    assert rows[-1] == "| GET /x | 32 | 0.50 | 0.25 | 9.00 | **0.75** |"
    assert cpu_table([Probe(case, 1, Result(1, 1.0), {})]) == []
