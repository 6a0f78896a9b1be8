"""One trace from HTTP through AMQP to the services and the AI worker, and log lines that carry
its id: exported as spans when an OTLP endpoint is configured, in the logs either way."""

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.chat import AddMessage, SealMessage
from support.api import User, ask, eventually, new_chat, sign_up
from support.infra import infra_or_fail
from support.otlp import Collector, Span, otlp_collector
from support.stack import Stack, run_stack

HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    with otlp_collector() as running:
        yield running


@pytest.fixture(scope="module")
def traced_stack(collector: Collector, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A system exporting spans over OTLP/HTTP to the in-test collector, logging JSON."""
    settings = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "LOG_JSON": "true",
        "ACCESS_LOG": "true",
    }
    with (
        infra_or_fail() as infra,
        run_stack(infra, tmp_path_factory.mktemp("traced"), **settings) as running,
    ):
        yield running


@pytest.fixture(scope="module")
def traced_api(traced_stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=traced_stack.base_url, timeout=30) as client:
        yield client


def log_lines(log: Path, trace_id: str) -> list[tuple[str, dict[str, Any]]]:
    """``(process, entry)`` of every JSON log line of the stack with this trace id."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        process, _, text = line.partition(" | ")
        if not text.startswith("{"):
            continue
        try:
            entry = json.loads(text)
        except ValueError:
            continue
        if entry.get("trace_id") == trace_id:
            found.append((process.strip(), entry))
    return found


def _one(spans: list[Span], service: str, name: str) -> Span:
    matching = [s for s in spans if s.service == service and s.name == name]
    assert len(matching) == 1, (service, name, [(s.service, s.name) for s in spans])
    return matching[0]


def _pipeline_done(spans: list[Span]) -> bool:
    return any(
        s.service == "chat" and s.name == f"process {SealMessage.queue}" for s in spans
    ) and any(s.service == "gateway" and s.kind == "server" for s in spans)


def test_one_message_is_one_trace_across_gateway_chat_and_ai_worker(
    traced_api: httpx.Client, traced_stack: Stack, collector: Collector
) -> None:
    user = sign_up(traced_api)
    chat_id = new_chat(traced_api, user)
    trace_id, client_span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    traceparent = f"00-{trace_id}-{client_span}-01"
    question = "How do I reset my password?"
    response = ask(traced_api, user, chat_id, question, headers={"traceparent": traceparent})
    assert response.status_code == 201, response.text
    assert response.headers["x-trace-id"] == trace_id

    spans = collector.wait_for(trace_id, _pipeline_done)
    http = _one(spans, "gateway", "POST /api/chats/{chat_id}/messages")
    assert http.kind == "server"
    assert http.parent_id == client_span  # FastAPI took the client's traceparent
    add_call = _one(spans, "gateway", f"send {AddMessage.queue}")
    assert add_call.kind == "client"
    assert add_call.parent_id == http.span_id
    assert add_call.attributes["messaging.system"] == "rabbitmq"
    assert add_call.attributes["messaging.destination.name"] == AddMessage.queue
    add = _one(spans, "chat", f"process {AddMessage.queue}")
    assert add.kind == "server"
    assert add.parent_id == add_call.span_id  # across AMQP headers

    # The outbox carried the context into message.created: the worker's work is a child of
    # the chat service's span that recorded the event.
    answer = _one(spans, "ai", "process ai.message-created")
    assert answer.kind == "consumer"
    assert answer.parent_id == add.span_id
    assert answer.attributes["cloudevents.event_type"] == "support.message.created"
    seal_call = _one(spans, "ai", f"send {SealMessage.queue}")
    assert seal_call.parent_id == answer.span_id
    seal = _one(spans, "chat", f"process {SealMessage.queue}")
    assert seal.parent_id == seal_call.span_id
    assert {s.trace_id for s in spans} == {trace_id}
    assert not any(s.error for s in spans)

    # The JSON log lines of each process for this request carry the same trace id.
    lines = eventually(
        lambda: log_lines(traced_stack.log, trace_id),
        lambda found: {"gateway", "chat", "ai"} <= {process for process, _ in found},
    )
    processes = {process for process, _ in lines}
    assert {"gateway", "chat", "ai"} <= processes, lines
    chat_lines = [entry for process, entry in lines if process == "chat"]
    assert {entry["span_id"] for entry in chat_lines} >= {add.span_id, seal.span_id}


def test_a_request_without_traceparent_starts_its_own_trace(
    traced_api: httpx.Client, collector: Collector
) -> None:
    user = sign_up(traced_api)
    response = traced_api.get("/api/users/me", headers=user.headers)
    assert response.status_code == 200
    trace_id = response.headers["x-trace-id"]
    assert HEX32.fullmatch(trace_id)
    spans = collector.wait_for(
        trace_id, lambda found: {"gateway", "users"} <= {s.service for s in found}, timeout=10
    )
    http = _one(spans, "gateway", "GET /api/users/me")
    assert http.parent_id == ""  # a root
    assert any(s.service == "users" and s.kind == "server" for s in spans)


# -- Exporter off: the session's system, which logs JSON with ACCESS_LOG (tests/conftest.py) --


def test_without_an_exporter_the_logs_of_every_process_share_the_trace_id(
    api: httpx.Client, stack: Stack, customer: User
) -> None:
    chat_id = new_chat(api, customer)
    response = ask(api, customer, chat_id, "How do I reset my password?")
    assert response.status_code == 201, response.text
    trace_id = response.headers["x-trace-id"]
    assert HEX32.fullmatch(trace_id), trace_id

    lines = eventually(
        lambda: log_lines(stack.log, trace_id),
        lambda found: {"gateway", "chat", "ai"} <= {process for process, _ in found},
    )
    by_process: dict[str, list[dict[str, Any]]] = {}
    for process, entry in lines:
        by_process.setdefault(process, []).append(entry)
    assert {"gateway", "chat", "ai"} <= by_process.keys(), lines
    (access,) = [e for e in by_process["gateway"] if e["logger"] == "gateway.access"]
    assert access["route"] == "/api/chats/{id}/messages"
    assert access["status"] == 201
    assert any(e.get("queue") == AddMessage.queue for e in by_process["chat"])
    # The AI worker's work came from the event, which carried the context through the outbox.
    assert any(e.get("event_type") == "support.message.created" for e in by_process["ai"])
    assert any(e.get("queue") == SealMessage.queue for e in by_process["chat"])


@pytest.mark.parametrize(
    "traceparent",
    [
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-future",
    ],
)
def test_without_an_exporter_a_valid_client_traceparent_is_kept(
    api: httpx.Client, stack: Stack, customer: User, traceparent: str
) -> None:
    response = api.get("/api/users/me", headers={**customer.headers, "traceparent": traceparent})
    assert response.status_code == 200
    trace_id = traceparent.split("-")[1]
    assert response.headers["x-trace-id"] == trace_id
    lines = eventually(
        lambda: log_lines(stack.log, trace_id),
        lambda found: {"gateway", "users"} <= {process for process, _ in found},
    )
    assert {"gateway", "users"} <= {process for process, _ in lines}, lines


@pytest.mark.parametrize(
    "traceparent",
    [
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # zero trace id
        "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",  # upper case
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # version ff
        "garbage",
    ],
)
def test_an_invalid_client_traceparent_is_replaced(
    api: httpx.Client, customer: User, traceparent: str
) -> None:
    response = api.get("/api/users/me", headers={**customer.headers, "traceparent": traceparent})
    assert response.status_code == 200
    trace_id = response.headers["x-trace-id"]
    assert HEX32.fullmatch(trace_id)
    assert trace_id not in traceparent.lower()


def test_problems_carry_the_trace_id_too(api: httpx.Client) -> None:
    response = api.get("/api/users/me")
    assert response.status_code == 401
    assert HEX32.fullmatch(response.headers["x-trace-id"])
    too_big = api.post("/api/users", content=b"x" * 200_000)
    assert too_big.status_code == 413
    assert HEX32.fullmatch(too_big.headers["x-trace-id"])
