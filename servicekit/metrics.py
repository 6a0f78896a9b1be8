"""Prometheus metrics of a process, served on ``/metrics``.

The gateway serves them on its own HTTP port; the other services, which have no HTTP server,
on ``METRICS_PORT`` (0 turns it off). Names follow Prometheus conventions (seconds, _total).
"""

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)
FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SLOW = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0)

HTTP_REQUESTS = Histogram(
    "http_request_duration_seconds",
    "HTTP requests served by the gateway",
    ["method", "route", "status"],
    buckets=FAST,
)
RPC_CALLS = Histogram(
    "rpc_client_duration_seconds",
    "Commands sent, by queue and outcome",
    ["queue", "outcome"],
    buckets=FAST,
)
RPC_HANDLED = Histogram(
    "rpc_handler_duration_seconds",
    "Commands answered, by queue and outcome",
    ["queue", "outcome"],
    buckets=FAST,
)
EVENTS_HANDLED = Histogram(
    "event_handler_duration_seconds",
    "Events consumed, by queue and outcome",
    ["queue", "outcome"],
    buckets=SLOW,
)
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Events relayed from the outbox", ["schema"])
OUTBOX_LAG = Histogram(
    "outbox_lag_seconds", "From the event's commit to its publication", ["schema"], buckets=SLOW
)
QUEUE_DEPTH = Gauge("queue_depth_messages", "Messages waiting in a consumed queue", ["queue"])
AI_ANSWERS = Histogram(
    "ai_answer_duration_seconds", "Time to write an answer", ["model", "outcome"], buckets=SLOW
)
AI_TOKENS = Counter("ai_tokens_total", "Tokens the model read and wrote", ["model", "kind"])
DB_STATEMENTS = Counter(
    "db_statements_total",
    "SQL statements sent to Postgres on the engine's connections (BEGIN, COMMIT and ROLLBACK"
    " included; the outbox relay's own connection not), by kind",
    ["kind"],
)
DB_TRANSACTIONS = Counter(
    "db_transactions_total",
    "Transactions on the engine's connections: explicit (a BEGIN) or implicit (a statement"
    " outside one)",
    ["kind"],
)


def serve(port: int) -> None:
    """Expose this process's metrics on ``http://0.0.0.0:<port>/metrics`` (0: don't)."""
    if port:
        start_http_server(port)
        log.info("metrics on :%d/metrics", port)
