"""Every process serves Prometheus metrics of what it did."""

import re
import uuid

import httpx

from support.api import User, ask, file_ticket, new_chat
from support.stack import Stack


def _lines(url: str) -> list[str]:
    response = httpx.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text.splitlines()


def _has(lines: list[str], metric: str, *labels: str) -> bool:
    return any(line.startswith(metric) and all(label in line for label in labels) for line in lines)


def test_every_process_serves_its_metrics(api: httpx.Client, stack: Stack, customer: User) -> None:
    chat_id = new_chat(api, customer)
    message = ask(api, customer, chat_id, "How do I reset my password?").json()
    file_ticket(api, customer, message["id"])
    gateway = _lines(f"{stack.base_url}/metrics")
    assert _has(
        gateway,
        "http_request_duration_seconds_count",
        'route="/api/chats/{id}/messages"',
        'method="POST"',
        'status="201"',
    )
    assert _has(
        gateway, "rpc_client_duration_seconds_count", 'queue="chat.message.add"', 'outcome="ok"'
    )
    port = stack.metrics_ports
    users = _lines(f"http://127.0.0.1:{port['users']}/metrics")
    assert _has(users, "rpc_handler_duration_seconds_count", 'queue="users.create"', 'outcome="ok"')
    assert _has(users, "outbox_published_total", 'schema="users"')
    chat = _lines(f"http://127.0.0.1:{port['chat']}/metrics")
    assert _has(chat, "rpc_handler_duration_seconds_count", 'queue="chat.message.seal"')
    assert _has(chat, "outbox_lag_seconds_count", 'schema="chat"')
    tickets = _lines(f"http://127.0.0.1:{port['tickets']}/metrics")
    assert _has(tickets, "rpc_handler_duration_seconds_count", 'queue="tickets.create"')
    assert _has(tickets, "rpc_client_duration_seconds_count", 'queue="chat.message.ref"')
    ai = _lines(f"http://127.0.0.1:{port['ai']}/metrics")
    assert _has(
        ai, "event_handler_duration_seconds_count", 'queue="ai.message-created"', 'outcome="ok"'
    )
    assert _has(ai, "ai_answer_duration_seconds_count", 'model="offline-bm25"', 'outcome="ok"')


SERIES = re.compile(r"^http_request_duration_seconds_count\{(?P<labels>.*)\} ", re.MULTILINE)
ROUTE = re.compile(r'route="(?P<route>[^"]*)"')


def _series(url: str) -> set[str]:
    """The label sets of the gateway's HTTP request histogram."""
    return {match["labels"] for match in SERIES.finditer(httpx.get(url, timeout=10).text)}


def _routes(series: set[str]) -> set[str]:
    return {match["route"] for labels in series if (match := ROUTE.search(labels))}


JUNK_SHAPES = [
    "/{junk}",
    "/api/{junk}",
    "/api/{junk}/{junk}",
    "/api/users/{junk}",
    "/api/chats/{junk}/messages/{junk}/stream",
    "/api/tickets/{junk}/history",
    "/metrics/{junk}",
]


def test_junk_paths_add_no_label_values(api: httpx.Client, stack: Stack, customer: User) -> None:
    """Each path no route knows, and each junk id in a route's path, would be a new series
    the gateway keeps forever: paths are labelled by their route, unmatched ones all alike."""
    metrics = f"{stack.base_url}/metrics"

    def junk_requests(count: int) -> None:
        for i in range(count):
            shape = JUNK_SHAPES[i % len(JUNK_SHAPES)]
            path = shape.format(junk=f"junk-{uuid.uuid4().hex[:12]}")
            headers = customer.headers if i % 2 else {}
            assert api.get(path, headers=headers).status_code in (401, 404, 422)

    junk_requests(
        2 * len(JUNK_SHAPES)
    )  # each shape's route and status once, with a token and without
    before = _series(metrics)
    junk_requests(80)
    after = _series(metrics)
    assert len(_routes(after) - _routes(before)) <= 1, _routes(after) - _routes(before)
    assert len(after - before) <= 1, after - before
    assert not [route for route in _routes(after) if "junk-" in route]
