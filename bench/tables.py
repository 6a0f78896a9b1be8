"""The report's tables, in markdown: the request path (rate, latency, handler p99 and the
scaling from concurrency 1 to 32), lists and search at each seeded size against the p99
targets, and the SQL each service sends per request."""

from bench.analysis import (
    P99_TARGET_MS,
    STATEMENTS_TARGET,
    SqlPerRequest,
    fmt,
    fmt_bounds,
    no_slower,
    p99_met,
    rows_label,
    statements_met,
    verdict,
)
from bench.load import Result
from bench.probes import Probe, Sized

SCALING_TARGET = 1.6


def errors(result: Result) -> str:
    """``0``, or ``7 (504: 7)``: how many answers had another status than expected."""
    if not result.errors:
        return "0"
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(result.statuses.items()))
    return f"{result.errors} ({statuses})"


def request_table(probes: list[Probe]) -> list[str]:
    lines = [
        "| path | concurrency | per second | p50 ms | p99 ms | handler p99 ms in | errors |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    rates: dict[str, list[float]] = {}
    for p in probes:
        rates.setdefault(p.case.label, []).append(p.result.rate)
        lines.append(
            f"| {p.case.label} | {p.concurrency} | {p.result.rate:.0f} | {p.p50:.2f} |"
            f" {p.p99:.2f} | {fmt_bounds(p.server.handler_p99)} | {errors(p.result)} |"
        )
    one, many = rates["GET /api/users/{id}"]
    scaling = many / one if one else 0.0
    return [
        *lines,
        "",
        f"`GET /api/users/{{id}}` throughput at 32 / at 1: **{scaling:.2f}x** (target >="
        f" {SCALING_TARGET}x: {verdict(scaling >= SCALING_TARGET)}). The handler p99 is the"
        " histogram bucket it falls in, of the service's own time for the command"
        " (`users.get`, `tickets.get`, `chat.message.add`: for the pipeline, only the"
        " message's insertion).",
    ]


def cpu_table(probes: list[Probe]) -> list[str]:
    """CPU per request of every process, with their sum (the floors' measure)."""
    names = list(dict.fromkeys(name for p in probes for name in p.cpu))
    if not names:
        return []
    lines = [
        "## CPU per request, by process",
        "",
        "Milliseconds of CPU (user and system, from `/proc`) each process spent per request of"
        " the measured run and the settling after it (the idle work of that second included);"
        " Postgres and RabbitMQ are all of their processes on this machine."
        " `system` sums all but the load generator. Two cores give 2,000 ms a second, so"
        " `2000 / system` bounds the rate; the floors in `docs/performance.md` (a bare HTTP -> RPC"
        " -> service -> Postgres request, about 2.2-2.6 ms) are measured the same way.",
        "",
        "| path | concurrency | " + " | ".join(names) + " | system |",
        "| --- | --- |" + " --- |" * (len(names) + 1),
    ]
    for p in probes:
        cells = " | ".join(f"{p.cpu.get(n, 0.0):.2f}" for n in names)
        lines.append(f"| {p.case.label} | {p.concurrency} | {cells} | **{p.system_cpu:.2f}** |")
    return lines


def lists_table(sized: list[Sized], concurrency: int) -> list[str]:
    if not sized:
        return []
    base = sized[0]
    small = rows_label(base.growth.rows)
    lines = [
        f"## Lists and search, concurrency {concurrency}",
        "",
        *(
            f"- {rows_label(s.growth.rows)} users and tickets seeded in {s.growth.seconds:.1f} s,"
            f" the users in {s.growth.users_seconds:.1f} s ("
            + ", ".join(f"{name} {sec:.1f} s" for name, sec in s.growth.steps.items())
            + ")."
            for s in sized
        ),
        "",
        f"Targets: p99 <= {P99_TARGET_MS:g} ms (end to end, as the client sees it), and no slower"
        f" at the larger size than at {small}: a p99 within 25 % or 1 ms of the {small} one"
        " (a margin for noise; the handler mean's ratio is shown beside it, for it is less"
        " noisy). Page size 50. Server side, from the processes' histograms:"
        " the bucket the gateway's and the handler's p99 fall in (bounds 0.5, 1, 2.5, 5, 10,"
        " 25, 50 ms), and the handler's exact mean.",
        "",
        "| path | rows | per second | p50 ms | p99 ms | gateway p99 ms in | handler p99 ms in |"
        f" handler mean ms | errors | p99 <= {P99_TARGET_MS:g} ms | p99 vs {small} |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for index, first in enumerate(base.probes):
        for s in sized:
            p = s.probes[index]
            server = p.server
            if s is base:
                growth = "-"
            else:
                means = server.handler_mean, first.server.handler_mean
                mean = f", mean {means[0] / means[1]:.2f}x" if means[0] and means[1] else ""
                growth = f"{p.p99 / first.p99:.2f}x{mean} {verdict(no_slower(first.p99, p.p99))}"
            lines.append(
                f"| {p.case.label} | {rows_label(s.growth.rows)} | {p.result.rate:.0f} |"
                f" {p.p50:.2f} | {p.p99:.2f} | {fmt_bounds(server.gateway_p99)} |"
                f" {fmt_bounds(server.handler_p99)} | {fmt(server.handler_mean)} |"
                f" {errors(p.result)} |"
                f" {verdict(p99_met(p.p99))} | {growth} |"
            )
    return lines


def _handled(sql: SqlPerRequest) -> str:
    """``chat.message.add 1, chat.message.seal 1``: per request, by queue."""
    return ", ".join(f"{queue} {round(n, 2):g}" for queue, n in sql.handled.items())


def _sql_rows(label: str, measured: list[tuple[str, list[SqlPerRequest]]]) -> list[str]:
    """Rows of one path: each service's SQL at the first size measured, and the statements at
    the other sizes where they differ (the target is checked on the most)."""
    (_, first), rest = measured[0], measured[1:]
    if not first:
        return [f"| {label} | none | 0 | 0 | 0 | 0 | met | - |"]
    lines = []
    for sql in first:
        others = {
            size: next((x.statements for x in rows if x.service == sql.service), 0.0)
            for size, rows in rest
        }
        differ = [
            f"{size}: {v:.2f}"
            for size, v in others.items()
            if f"{v:.2f}" != f"{sql.statements:.2f}"
        ]
        note = f" ({', '.join(differ)})" if differ else ""
        most = max([sql.statements, *others.values()])
        lines.append(
            f"| {label} | {sql.service} | {sql.statements:.2f}{note} | {sql.queries:.2f} |"
            f" {sql.control:.2f} | {sql.transactions:.2f} = {sql.explicit:.2f} +"
            f" {sql.implicit:.2f} | {verdict(statements_met(most))} | {_handled(sql)} |"
        )
    return lines


def sql_table(path: list[Probe], sized: list[Sized]) -> list[str]:
    lines = [
        "## SQL per request, counted",
        "",
        "Each service counts what its engine's connections send to Postgres: every statement"
        " SQLAlchemy executes (a cursor event) and every one asyncpg runs by itself, BEGIN,"
        " COMMIT and ROLLBACK included (a query logger on each connection); a transaction is"
        " a BEGIN, or a statement run outside one (implicit). The counts of the measured run"
        " divided by its requests (at concurrency 1; lists at each size, shown where they"
        " differ). Not counted: the outbox relays (their own connection, which polls and"
        " publishes committed events), and asyncpg's one-off type lookups on a new"
        f" connection. Target: <= {STATEMENTS_TARGET:g} statements per request per service,"
        " BEGIN/COMMIT/ROLLBACK included.",
        "",
        "| path | service | statements | queries | BEGIN/COMMIT/ROLLBACK |"
        f" transactions (explicit + implicit) | <= {STATEMENTS_TARGET:g} statements |"
        " commands and events handled |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for probe in path:
        if probe.concurrency == 1:
            lines += _sql_rows(probe.case.label, [("", probe.sql)])
    for index, probe in enumerate(sized[0].probes if sized else []):
        measured = [(rows_label(s.growth.rows), s.probes[index].sql) for s in sized]
        lines += _sql_rows(probe.case.label, measured)
    return lines
