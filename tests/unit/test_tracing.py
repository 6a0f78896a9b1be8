"""Trace context: W3C parsing, what travels on AMQP and in events, the log fields, the gateway's
middleware, and spans with parents across hops when tracing is on (an in-memory SDK)."""

import asyncio
import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.types import Message, Receive, Scope, Send

from contracts.events import CloudEvent
from gateway.limits import RequestTelemetry
from servicekit import tracing
from servicekit.logs import JsonFormatter, PlainFormatter, TraceContextFilter
from servicekit.outbox import encode_cloudevent

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
TP = f"00-{TRACE_ID}-{SPAN_ID}-01"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (TP, TP),
        (TP.encode(), TP),
        (f" {TP}\t", TP),
        (f"00-{TRACE_ID}-{SPAN_ID}-00", f"00-{TRACE_ID}-{SPAN_ID}-00"),
        (f"cc-{TRACE_ID}-{SPAN_ID}-01-what-the-future-holds", TP),  # a later version, read as 00
        (f"cc-{TRACE_ID}-{SPAN_ID}-01", TP),
        (f"ff-{TRACE_ID}-{SPAN_ID}-01", None),  # version ff is invalid
        (f"00-{TRACE_ID}-{SPAN_ID}-01-extra", None),  # version 00 has exactly four fields
        (f"00-{'0' * 32}-{SPAN_ID}-01", None),
        (f"00-{TRACE_ID}-{'0' * 16}-01", None),
        (TP.upper(), None),
        (f"00-{TRACE_ID[:-1]}-{SPAN_ID}-01", None),
        (f"00-{TRACE_ID}-{SPAN_ID}-1", None),
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_valid_traceparent(value: object, expected: str | None) -> None:
    assert tracing.valid_traceparent(value) == expected


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "OTLP"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, []),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}, []),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "console"}, ["console"]),
    ],
)
def test_exporters_are_off_unless_configured(env: dict[str, str], expected: list[str]) -> None:
    assert tracing.exporters_from_env(env) == expected


def test_configure_tracing_does_nothing_without_exporters() -> None:
    assert tracing.configure_tracing("unit", env={}) is tracing.OFF
    assert not tracing.OFF.on
    assert not tracing.Carried(TP).is_recording()


@pytest.fixture
def within() -> Iterator[None]:
    """Run the test with ``TP`` (and a tracestate) as the current, carried context."""
    span = tracing.carried(TP, "vendor=abc")
    assert span is not None
    with tracing.Attached(span):
        yield


def test_outside_any_trace_nothing_travels() -> None:
    headers: dict[str, Any] = {}
    tracing.inject(headers)
    assert headers == {}
    assert tracing.current_headers() == (None, None)
    assert tracing.current_ids() == ("", "")


@pytest.mark.usefixtures("within")
def test_a_carried_context_travels_as_it_came() -> None:
    headers: dict[str, Any] = {"x-deadline": 1}
    tracing.inject(headers)
    assert headers == {"x-deadline": 1, "traceparent": TP, "tracestate": "vendor=abc"}
    assert tracing.current_ids() == (TRACE_ID, SPAN_ID)
    assert tracing.current_trace_id() == TRACE_ID


def test_a_carried_context_is_parsed_only_when_asked() -> None:
    span = tracing.Carried(TP, "vendor=abc")
    assert span._parsed is None
    context = span.get_span_context()
    assert (context.trace_id, context.span_id) == (int(TRACE_ID, 16), int(SPAN_ID, 16))
    assert context.is_remote and context.trace_flags.sampled
    assert context.trace_state.get("vendor") == "abc"


def test_a_tracestate_too_long_is_dropped() -> None:
    span = tracing.carried(TP, "v=" + "x" * 600)
    assert span is not None and span.tracestate is None


def test_http_headers_give_the_clients_context_or_a_new_one() -> None:
    given = tracing.from_http_headers([(b"host", b"x"), (b"traceparent", TP.encode())])
    assert given.traceparent == TP
    fresh = [tracing.from_http_headers([(b"traceparent", b"nonsense")]) for _ in range(3)]
    assert len({span.trace_id for span in fresh}) == 3
    for span in fresh:
        assert tracing.valid_traceparent(span.traceparent) == span.traceparent
        assert span.traceparent.endswith("-00")  # not sampled: nothing records it


def test_off_continue_trace_makes_the_context_current_without_a_span() -> None:
    parent = tracing.carried(TP)
    with tracing.OFF.continue_trace(parent, "process q", SpanKind.SERVER, None):
        assert trace.get_current_span() is parent
    assert tracing.current_ids() == ("", "")
    with tracing.OFF.continue_trace(None, "process q", SpanKind.SERVER, None):
        started = tracing.current_trace_id()  # a message without context: a new trace
    assert len(started) == 32
    assert tracing.current_ids() == ("", "")


def _record(message: str = "hello %s", args: tuple[Any, ...] = ("world",)) -> logging.LogRecord:
    return logging.LogRecord("svc.part", logging.INFO, __file__, 1, message, args, None)


def test_log_records_carry_the_trace_and_span_ids(within: None) -> None:
    record = _record()
    assert TraceContextFilter().filter(record)
    assert (record.__dict__["trace_id"], record.__dict__["span_id"]) == (TRACE_ID, SPAN_ID)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["trace_id"] == TRACE_ID and entry["span_id"] == SPAN_ID
    assert entry["message"] == "hello world" and entry["logger"] == "svc.part"
    assert PlainFormatter().format(record) == f"INFO svc.part [{TRACE_ID[:8]}]: hello world"


def test_log_records_outside_a_trace_have_empty_ids() -> None:
    record = _record()
    TraceContextFilter().filter(record)
    assert (record.__dict__["trace_id"], record.__dict__["span_id"]) == ("", "")
    entry = json.loads(JsonFormatter().format(record))
    assert "trace_id" not in entry and "span_id" not in entry
    assert PlainFormatter().format(record) == "INFO svc.part: hello world"


def test_json_lines_carry_the_extra_fields() -> None:
    record = _record("%s done")
    record.__dict__.update(queue="chat.message.add", duration=uuid.UUID(int=7))
    TraceContextFilter().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["queue"] == "chat.message.add"
    assert entry["duration"] == str(uuid.UUID(int=7))


def test_events_carry_the_context_they_were_recorded_in() -> None:
    row = {
        "id": uuid.uuid4(),
        "type": "support.message.created",
        "subject": "s",
        "data": "{}",
        "occurred_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "traceparent": TP,
        "tracestate": None,
    }
    body = orjson.loads(encode_cloudevent(row, "/chat"))
    assert body["traceparent"] == TP
    assert "tracestate" not in body
    event = CloudEvent.model_validate(body)
    assert event.traceparent == TP and event.tracestate is None
    without = orjson.loads(encode_cloudevent({**row, "traceparent": None}, "/chat"))
    assert "traceparent" not in without
    assert CloudEvent.model_validate(without).traceparent is None


# -- The gateway's middleware ---------------------------------------------------------------


def _call(
    app: Any, headers: list[tuple[bytes, bytes]], *, access_log: bool = False
) -> tuple[list[Message], list[str]]:
    """Run one GET through ``RequestTelemetry(app)``; the messages sent and trace ids seen."""
    seen: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(tracing.current_trace_id())
        await app(scope, receive, send)

    middleware = RequestTelemetry(inner, access_log=access_log)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/api/x", "headers": headers}
    asyncio.run(middleware(scope, receive, send))
    return sent, seen


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"a", b"b")]})
    await send({"type": "http.response.body", "body": b"{}"})


def test_the_gateway_answers_the_clients_trace_id() -> None:
    sent, seen = _call(_ok, [(b"traceparent", TP.encode())])
    assert sent[0]["headers"] == [(b"a", b"b"), (b"x-trace-id", TRACE_ID.encode())]
    assert seen == [TRACE_ID]


def test_the_gateway_makes_a_trace_id_when_none_came() -> None:
    sent, seen = _call(_ok, [])
    header = dict(sent[0]["headers"])[b"x-trace-id"].decode()
    assert len(header) == 32 and seen == [header]


def test_the_access_log_line_carries_the_trace_id(caplog: pytest.LogCaptureFixture) -> None:
    handler = caplog.handler
    handler.addFilter(TraceContextFilter())
    try:
        with caplog.at_level(logging.INFO, logger="gateway.access"):
            _call(_ok, [(b"traceparent", TP.encode())], access_log=True)
    finally:
        handler.removeFilter(handler.filters[-1])
    (record,) = [r for r in caplog.records if r.name == "gateway.access"]
    assert record.__dict__["trace_id"] == TRACE_ID
    assert record.getMessage().startswith("GET /api/x 200 ")


def test_the_context_stays_for_the_error_handler_outside() -> None:
    async def boom(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("bug")

    async def outside() -> str:
        headers = [(b"traceparent", TP.encode())]
        scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}

        async def receive() -> Message:
            return {"type": "http.request"}

        async def send(message: Message) -> None:
            pass

        with pytest.raises(RuntimeError):
            await RequestTelemetry(boom)(scope, receive, send)
        return tracing.current_trace_id()  # what Starlette's error handler will log with

    assert asyncio.run(outside()) == TRACE_ID


# -- Tracing on: an in-memory SDK ------------------------------------------------------------


@pytest.fixture
def exported() -> Iterator[tuple[tracing.Tracing, InMemorySpanExporter]]:
    """Tracing on for what the test hands it to, into memory (no global provider)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield tracing.Tracing(provider.get_tracer("test")), exporter
    provider.shutdown()


def _by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def test_on_spans_chain_across_hops(
    exported: tuple[tracing.Tracing, InMemorySpanExporter],
) -> None:
    on, spans = exported
    """gateway-ish client span -> headers -> server span -> event -> consumer span."""
    attributes = tracing.messaging("chat.message.add", "process")
    headers: dict[str, Any] = {}
    with (
        on.continue_trace(tracing.carried(TP), "process http", SpanKind.SERVER, None),
        on.start_span("send chat.message.add", SpanKind.CLIENT, attributes),
    ):
        tracing.inject(headers)
    server_parent = tracing.carried(headers["traceparent"])
    with on.continue_trace(server_parent, "process chat.message.add", SpanKind.SERVER, None):
        event_traceparent, _ = tracing.current_headers()
    with on.continue_trace(
        tracing.carried(event_traceparent), "process ai.message-created", SpanKind.CONSUMER, None
    ):
        pass
    found = _by_name(spans)
    http, call = found["process http"], found["send chat.message.add"]
    served, consumed = found["process chat.message.add"], found["process ai.message-created"]
    assert {span.context.trace_id for span in found.values()} == {int(TRACE_ID, 16)}
    assert http.parent is not None and http.parent.span_id == int(SPAN_ID, 16)
    assert call.parent is not None and call.parent.span_id == http.context.span_id
    assert served.parent is not None and served.parent.span_id == call.context.span_id
    assert consumed.parent is not None and consumed.parent.span_id == served.context.span_id
    assert call.kind == SpanKind.CLIENT and consumed.kind == SpanKind.CONSUMER
    assert call.attributes is not None
    assert call.attributes["messaging.destination.name"] == "chat.message.add"


def test_on_a_message_without_context_starts_a_new_trace(
    exported: tuple[tracing.Tracing, InMemorySpanExporter],
) -> None:
    on, spans = exported
    token = otel_context.attach(trace.set_span_in_context(tracing.Carried(TP)))
    try:  # whatever is current around it: a message without context is a root
        with on.continue_trace(None, "process q", SpanKind.SERVER, None):
            pass
    finally:
        otel_context.detach(token)
    (span,) = spans.get_finished_spans()
    assert span.parent is None


def test_on_failures_mark_the_span(
    exported: tuple[tracing.Tracing, InMemorySpanExporter],
) -> None:
    on, spans = exported
    with on.continue_trace(None, "handled", SpanKind.SERVER, None):
        on.record_failure(ValueError("bad"))
    with pytest.raises(KeyError), on.continue_trace(None, "raised", SpanKind.SERVER, None):
        raise KeyError("k")
    found = _by_name(spans)
    for name in ("handled", "raised"):
        assert found[name].status.status_code == StatusCode.ERROR
        assert [event.name for event in found[name].events] == ["exception"]
