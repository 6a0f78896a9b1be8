"""Logging setup: plain lines for people, JSON lines for machines (``LOG_JSON=true``).

Every record carries the trace id and span id of the work it was logged in (``trace_id`` and
``span_id``, empty outside any request or event): the trace id is the correlation id, the same
in every process a request reaches, and the one the gateway answers in ``X-Trace-Id``.
"""

import logging
import sys
from typing import Any

import orjson

from servicekit.tracing import current_ids

# Attributes every LogRecord has; any other one came from ``extra=`` and goes into the JSON.
_STANDARD = frozenset(
    set(vars(logging.LogRecord("", 0, "", 0, "", None, None)))
    | {"message", "asctime", "trace_id", "span_id", "trace", "taskName", "color_message"}
)


class TraceContextFilter(logging.Filter):
    """Stamps each record with ``trace_id`` and ``span_id`` of the current trace context."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id, record.span_id = current_ids()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, trace and span ids when in a
    trace, the exception if any, and the record's ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        trace_id = getattr(record, "trace_id", "")
        if trace_id:
            entry["trace_id"] = trace_id
            entry["span_id"] = getattr(record, "span_id", "")
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class PlainFormatter(logging.Formatter):
    """``LEVEL logger [trace]: message``, with the first 8 hex digits of the trace id."""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s%(trace)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        trace_id = getattr(record, "trace_id", "")
        record.trace = f" [{trace_id[:8]}]" if trace_id else ""
        return super().format(record)


def configure_logging(level: str, *, json: bool) -> None:
    """Send every log record to stderr, once, in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(TraceContextFilter())
    handler.setFormatter(JsonFormatter() if json else PlainFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if json:
        # uvicorn's own lines (start-up, errors in the ASGI app) as JSON lines too.
        for name in ("uvicorn", "uvicorn.error"):
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.propagate = True
    logging.getLogger("aiormq").setLevel(logging.WARNING)
    logging.getLogger("aio_pika").setLevel(logging.WARNING)
    logging.getLogger("bm25s").setLevel(logging.WARNING)
