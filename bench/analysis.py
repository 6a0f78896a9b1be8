"""What a measured run's metric deltas say: server-side latency, SQL per request, and whether
the targets are met. Pure functions of the numbers, so they are unit-tested."""

import math
from collections.abc import Mapping
from dataclasses import dataclass

from bench.prom import Snapshot, by_label, histogram, prefixed
from servicekit.db import TRANSACTION_CONTROL

DB_SERVICES = ("users", "chat", "tickets")
"""The processes with a database engine (the gateway and the AI worker have none)."""

P99_TARGET_MS = 20.0
STATEMENTS_TARGET = 2.0
GROWTH_FACTOR, GROWTH_SLACK_MS = 1.25, 1.0
""""No slower" at the larger size: a p99 within 25 % or 1 ms of the smaller size's (whichever
is more), a margin for timing noise on a shared 2-core machine."""


@dataclass(frozen=True)
class ServerSide:
    """Server-side times of the requests of one run, in milliseconds (None: not observed).

    ``gateway_p99``: from the gateway's own HTTP histogram over ``/api/`` routes;
    ``handler_p99`` and ``handler_mean``: from the histogram of the service's handler of the
    command's queue (decode, rules, SQL, encode, reply). A histogram only tells which of its
    buckets a p99 falls in, so a p99 is that bucket's bounds; a mean is exact."""

    gateway_p99: tuple[float, float] | None
    handler_p99: tuple[float, float] | None
    handler_mean: float | None
    handled: float


def _ms(bounds: tuple[float, float] | None) -> tuple[float, float] | None:
    return None if bounds is None else (bounds[0] * 1000, bounds[1] * 1000)


def server_side(deltas: Mapping[str, Snapshot], service: str, queue: str) -> ServerSide:
    gateway = histogram(
        prefixed(deltas.get("gateway", {}), "route", "/api/"), "http_request_duration_seconds"
    )
    handler = histogram(deltas.get(service, {}), "rpc_handler_duration_seconds", queue=queue)
    return ServerSide(
        gateway_p99=_ms(gateway.quantile_bounds(0.99)),
        handler_p99=_ms(handler.quantile_bounds(0.99)),
        handler_mean=None if handler.mean is None else handler.mean * 1000,
        handled=handler.count,
    )


@dataclass(frozen=True)
class SqlPerRequest:
    """What one service sent to Postgres per request, counted by its ``db_statements_total``
    and ``db_transactions_total`` (the outbox relay's own connection excluded)."""

    service: str
    statements: float
    """Every statement, BEGIN, COMMIT and ROLLBACK included."""
    queries: float
    """Statements other than transaction control."""
    control: float
    """BEGIN, COMMIT, ROLLBACK and savepoints."""
    explicit: float
    """Transactions opened by a BEGIN."""
    implicit: float
    """Statements run outside a transaction: each a transaction of its own."""
    handled: dict[str, float]
    """Commands and events the service handled, by queue (what the statements were for)."""

    @property
    def transactions(self) -> float:
        return self.explicit + self.implicit


def sql_per_request(deltas: Mapping[str, Snapshot], requests: int) -> list[SqlPerRequest]:
    """Per service that ran any SQL in the window, its statements and transactions divided by
    the requests measured in it."""
    if requests <= 0:
        return []
    rows = []
    for service in DB_SERVICES:
        gained = deltas.get(service, {})
        kinds = by_label(gained, "db_statements_total", "kind")
        transactions = by_label(gained, "db_transactions_total", "kind")
        handled = by_label(gained, "rpc_handler_duration_seconds_count", "queue")
        for queue, n in by_label(gained, "event_handler_duration_seconds_count", "queue").items():
            handled[queue] = handled.get(queue, 0.0) + n
        statements = sum(kinds.values())
        if statements <= 0:
            continue
        control = sum(v for kind, v in kinds.items() if kind in TRANSACTION_CONTROL)
        rows.append(
            SqlPerRequest(
                service=service,
                statements=statements / requests,
                queries=(statements - control) / requests,
                control=control / requests,
                explicit=transactions.get("explicit", 0.0) / requests,
                implicit=transactions.get("implicit", 0.0) / requests,
                handled={q: n / requests for q, n in sorted(handled.items()) if n > 0},
            )
        )
    return rows


def verdict(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


def p99_met(p99_ms: float) -> bool:
    return p99_ms <= P99_TARGET_MS


def no_slower(smaller_ms: float, larger_ms: float) -> bool:
    """The larger size's p99 is within the noise margin of the smaller size's."""
    return larger_ms <= max(smaller_ms * GROWTH_FACTOR, smaller_ms + GROWTH_SLACK_MS)


def statements_met(per_request: float) -> bool:
    """At most ``STATEMENTS_TARGET``, as printed (two decimals)."""
    return round(per_request, 2) <= STATEMENTS_TARGET


def rows_label(rows: int) -> str:
    """``10k``, ``1M``, ``2.5M``, ``750``."""
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if rows >= size:
            return f"{rows / size:g}{unit}"
    return str(rows)


def fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def fmt_bounds(bounds: tuple[float, float] | None) -> str:
    """A histogram bucket in milliseconds: ``10-25``, ``> 5000``."""
    if bounds is None:
        return "n/a"
    lower, upper = bounds
    return f"> {lower:g}" if math.isinf(upper) else f"{lower:g}-{upper:g}"


def parse_rows(text: str) -> list[int]:
    """``"10000,1000000"`` (or ``"10k,1M"``) -> ``[10000, 1000000]``: distinct sizes,
    ascending; ``""`` -> none. A size that is not a positive whole number is a ValueError."""
    sizes = set()
    for part in text.replace("_", "").split(","):
        part = part.strip()
        if not part:
            continue
        scale = {"k": 1_000, "m": 1_000_000}.get(part[-1].lower(), 1)
        size = int(part[:-1] if scale > 1 else part) * scale
        if size <= 0:
            raise ValueError(f"not a positive number of rows: {part!r}")
        sizes.add(size)
    return sorted(sizes)
