"""Trace context from HTTP through AMQP to every service, and OpenTelemetry spans on demand.

Every request gets a W3C trace id at the gateway: the client's ``traceparent`` when it sends a
valid one, else a random one. It rides on every RPC (AMQP headers ``traceparent`` and
``tracestate``) and, through the outbox, on every event the request causes (the CloudEvents
distributed-tracing attributes of the same names, also set as AMQP headers), so that the log
lines of every process share it (``servicekit.logs``) and the gateway answers it to the client
(``X-Trace-Id``).

Spans are made and exported only when the standard OpenTelemetry environment asks for it
(``configure_tracing``). Otherwise nothing is recorded: the context is passed through as the
string that came in (a ``Carried`` span, parsed only if a log line asks for its ids), which
costs a few microseconds per request rather than the tens of an SDK span.

Between our own processes the context always travels in W3C form (``traceparent`` and
``tracestate``), whatever ``OTEL_PROPAGATORS`` says: it is part of our wire format, as it is of
the CloudEvents extension. At the HTTP edge, FastAPI extracts with the configured propagators
when tracing is on.
"""

import logging
import os
import random
import re
from collections.abc import Iterable, Mapping, MutableMapping
from contextlib import AbstractContextManager
from contextvars import Token
from types import TracebackType
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    INVALID_SPAN_CONTEXT,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)
from opentelemetry.util.types import Attributes

log = logging.getLogger(__name__)

TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"
TRACE_ID_HEADER: Final = "X-Trace-Id"
MAX_TRACESTATE = 512
"""Longer ``tracestate`` values are dropped (W3C: vendors may truncate past 512 characters)."""

_TRACEPARENT_RE = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
_EXPORTERS = ("otlp", "console")


# -- Configuration -------------------------------------------------------------------------


def exporters_from_env(env: Mapping[str, str]) -> list[str]:
    """The span exporters the environment asks for: ``otlp``, ``console``, both or none.

    Off unless configured: ``OTEL_TRACES_EXPORTER`` lists exporters (``none`` for none), and an
    OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``..._TRACES_ENDPOINT``) alone means
    ``otlp``. ``OTEL_SDK_DISABLED=true`` wins over both.
    """
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    listed = [
        name.strip().lower()
        for name in env.get("OTEL_TRACES_EXPORTER", "").split(",")
        if name.strip()
    ]
    if not listed:
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        return ["otlp"] if endpoint else []
    if "none" in listed:
        return []
    unknown = [name for name in listed if name not in _EXPORTERS]
    if unknown:
        log.warning("OTEL_TRACES_EXPORTER: %s not supported (otlp, console)", ", ".join(unknown))
    return [name for name in _EXPORTERS if name in listed]


def configure_tracing(service_name: str, env: Mapping[str, str] | None = None) -> "Tracing":
    """Record and export spans if the environment asks for it: the process's ``Tracing``.

    Installs an SDK ``TracerProvider`` (resource ``service.name`` = ``service_name``, namespace
    ``support-desk``, plus ``OTEL_RESOURCE_ATTRIBUTES``) with a ``BatchSpanProcessor`` per
    exporter: OTLP over HTTP/protobuf (endpoint, headers, timeout from the usual
    ``OTEL_EXPORTER_OTLP_*``) or the console. The sampler follows ``OTEL_TRACES_SAMPLER``
    (default: parent-based, always on), and makes it OpenTelemetry's global provider (FastAPI's
    HTTP spans use it). Otherwise leaves the API's no-op provider in place and answers ``OFF``.
    Call it once per process.
    """
    env = os.environ if env is None else env
    exporters = exporters_from_env(env)
    if not exporters:
        return OFF
    # Imported here: a process that does not trace does not load the SDK at all.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    resource = Resource.create({"service.name": service_name, "service.namespace": "support-desk"})
    provider = TracerProvider(resource=resource)
    for name in exporters:
        exporter: SpanExporter
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
                "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
            )
            if protocol != "http/protobuf":
                log.warning("OTLP protocol %s not supported: exporting http/protobuf", protocol)
            exporter = OTLPSpanExporter()
        else:
            exporter = ConsoleSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    log.info("tracing on: %s exporting spans (%s)", service_name, ", ".join(exporters))
    return Tracing(provider.get_tracer("servicekit"))


# -- The context that travels --------------------------------------------------------------


def valid_traceparent(value: object) -> str | None:
    """``value`` as a version-00 ``traceparent`` if it is a valid W3C one, else None.

    A later version is read by its first four fields (as the W3C spec says) and re-emitted as
    version 00; version ``ff``, zero ids, upper-case hex and anything not a string are invalid.
    """
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    match = _TRACEPARENT_RE.fullmatch(value.strip(" \t"))
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return match[0] if version == "00" and rest is None else f"00-{trace_id}-{span_id}-{flags}"


def _tracestate(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str) or not value:
        return None
    return value if len(value) <= MAX_TRACESTATE else None


class Carried(NonRecordingSpan):
    """A trace context passed on without a span of our own (what runs when tracing is off).

    Keeps the ``traceparent`` as it came, so passing it on costs nothing; its ``SpanContext``
    is parsed only when asked for (by a span made under it, or by a log line).
    """

    def __init__(self, traceparent: str, tracestate: str | None = None) -> None:
        super().__init__(INVALID_SPAN_CONTEXT)
        self.traceparent = traceparent
        self.tracestate = tracestate
        self._parsed: SpanContext | None = None

    @property
    def trace_id(self) -> str:
        return self.traceparent[3:35]

    @property
    def span_id(self) -> str:
        return self.traceparent[36:52]

    def get_span_context(self) -> SpanContext:
        if self._parsed is None:
            self._parsed = SpanContext(
                int(self.trace_id, 16),
                int(self.span_id, 16),
                is_remote=True,
                trace_flags=TraceFlags(int(self.traceparent[53:55], 16)),
                trace_state=TraceState.from_header([self.tracestate]) if self.tracestate else None,
            )
        return self._parsed

    def __repr__(self) -> str:
        return f"Carried({self.traceparent!r})"


def carried(traceparent: object, tracestate: object = None) -> Carried | None:
    """The context in a ``traceparent`` (and ``tracestate``) pair, or None if it is invalid."""
    valid = valid_traceparent(traceparent)
    return None if valid is None else Carried(valid, _tracestate(tracestate))


def new_trace() -> Carried:
    """A fresh random trace (not sampled: nothing records it)."""
    trace_id = random.getrandbits(128) or 1
    span_id = random.getrandbits(64) or 1
    return Carried(f"00-{trace_id:032x}-{span_id:016x}-00")


def from_http_headers(headers: Iterable[tuple[bytes, bytes]]) -> Carried:
    """The client's trace context from ASGI headers if valid, else a new trace."""
    traceparent = tracestate = None
    for name, value in headers:
        if name == b"traceparent":
            traceparent = value
        elif name == b"tracestate":
            tracestate = value
    return carried(traceparent, tracestate) or new_trace()


def format_traceparent(span_context: SpanContext) -> str:
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}"
        f"-{span_context.trace_flags:02x}"
    )


def current_headers() -> tuple[str | None, str | None]:
    """The current ``traceparent`` and ``tracestate`` (None, None outside any trace)."""
    span = trace.get_current_span()
    if type(span) is Carried:
        return span.traceparent, span.tracestate
    span_context = span.get_span_context()
    if not span_context.is_valid:
        return None, None
    state = span_context.trace_state.to_header() if span_context.trace_state else None
    return format_traceparent(span_context), state or None


def inject(headers: MutableMapping[str, Any]) -> None:
    """Put the current trace context into AMQP message headers (nothing outside a trace)."""
    traceparent, tracestate = current_headers()
    if traceparent is not None:
        headers[TRACEPARENT] = traceparent
        if tracestate is not None:
            headers[TRACESTATE] = tracestate


def current_ids() -> tuple[str, str]:
    """The current trace id and span id in hex, or two empty strings outside any trace."""
    span = trace.get_current_span()
    if type(span) is Carried:
        return span.trace_id, span.span_id
    span_context = span.get_span_context()
    if not span_context.is_valid:
        return "", ""
    return f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}"


def current_trace_id() -> str:
    return current_ids()[0]


class Attached:
    """``with Attached(span) as span:`` makes ``span`` the current span for the block (not
    ending it)."""

    __slots__ = ("_span", "_token")

    def __init__(self, span: Span) -> None:
        self._span = span
        self._token: Token[Context] | None = None

    def __enter__(self) -> Span:
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self._span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            otel_context.detach(self._token)


# -- Spans -----------------------------------------------------------------------------------


class Current(Attached):
    """``with Current(span) as span:`` runs the block with ``span`` current, records an
    exception that escapes it as the span's error, and ends the span.

    What ``Tracer.start_as_current_span`` does, without the generator-based context manager
    and ``use_span`` that one goes through on every span.
    """

    __slots__ = ()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, Exception):
            _mark_failed(self._span, exc)
        super().__exit__(exc_type, exc, tb)
        self._span.end()


class Tracing:
    """The spans of one process: made by ``tracer`` when tracing is on, none at all when off
    (``OFF``). The runtime makes it once (``configure_tracing``) and hands it to what serves,
    calls and consumes."""

    __slots__ = ("_tracer",)

    def __init__(self, tracer: trace.Tracer | None = None) -> None:
        self._tracer = tracer

    @property
    def on(self) -> bool:
        return self._tracer is not None

    def continue_trace(
        self, parent: Carried | None, name: str, kind: SpanKind, attributes: Attributes
    ) -> AbstractContextManager[Any]:
        """Work on behalf of a message: a span of ``kind`` under ``parent`` when tracing is on,
        else ``parent`` made current as it came (so log lines carry its ids). A message without
        a context starts a new trace either way."""
        if self._tracer is None:
            return Attached(new_trace() if parent is None else parent)
        parent_context = (
            Context() if parent is None else trace.set_span_in_context(parent, Context())
        )
        return Current(
            self._tracer.start_span(name, context=parent_context, kind=kind, attributes=attributes)
        )

    def start_span(self, name: str, kind: SpanKind, attributes: Attributes) -> Current:
        """A span under the current one, current in the block (only when ``on``)."""
        assert self._tracer is not None, "tracing is off"
        return Current(self._tracer.start_span(name, kind=kind, attributes=attributes))

    def record_failure(self, exc: BaseException) -> None:
        """Mark the current span failed by ``exc`` (an error handled without re-raising)."""
        if self._tracer is not None:
            _mark_failed(trace.get_current_span(), exc)


OFF: Final = Tracing()
"""No spans: the trace context is only passed along."""


def _mark_failed(span: Span, exc: BaseException) -> None:
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


def messaging(destination: str, operation: str, **more: str) -> dict[str, str]:
    """Messaging semantic-convention attributes of a span on RabbitMQ."""
    return {
        "messaging.system": "rabbitmq",
        "messaging.destination.name": destination,
        "messaging.operation.type": operation,
        **more,
    }
