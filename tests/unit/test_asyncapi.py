"""The AsyncAPI document lists every event with its payload; the example subscriber's logic."""

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contracts.enums import IssueType, Priority, TicketStatus
from contracts.events import (
    CONTENT_TYPE,
    EVENT_CATALOG,
    CloudEvent,
    TicketCreated,
    TicketStatusChanged,
    TicketUpdated,
)
from contracts.names import EVENTS_EXCHANGE, routing_key
from contracts.tickets import TicketPublic
from examples import ticket_subscriber
from gateway.app import create_app
from gateway.asyncapi import asyncapi_document

ROOT = Path(__file__).resolve().parents[2]
ENVELOPE_FIELDS = {"specversion", "id", "source", "type", "subject", "time", "datacontenttype"}


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` itself, or what its local ``$ref`` points at."""
    while "$ref" in schema:
        target: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def all_refs(node: Any) -> list[str]:
    """Every ``$ref`` anywhere in ``node``."""
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in all_refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in all_refs(value)]
    return []


def payload_of(document: dict[str, Any], event_type: str) -> dict[str, Any]:
    """The envelope schema of ``event_type``'s message, reached through its channel."""
    channel = document["channels"][event_type]
    (message_ref,) = channel["messages"].values()
    return resolve(document, resolve(document, message_ref)["payload"])


def status_changed_event() -> CloudEvent:
    """A ``support.ticket.status_changed`` event, open -> in_progress, as a subscriber sees it."""
    now = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
    ticket = TicketPublic(
        id=uuid.uuid4(),
        message_id=uuid.uuid4(),
        chat_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        reporter_id=uuid.uuid4(),
        issue_type=IssueType.INCORRECT_ANSWER,
        status=TicketStatus.IN_PROGRESS,
        priority=Priority.HIGH,
        assignee_id=None,
        description=None,
        created_at=now,
        updated_at=now,
        resolved_at=None,
    )
    data = TicketStatusChanged(
        ticket=ticket,
        from_status=TicketStatus.OPEN,
        to_status=TicketStatus.IN_PROGRESS,
        actor_id=uuid.uuid4(),
    )
    # Through JSON, as a subscriber receives it: ``from``/``to`` by alias, ids as strings.
    body = {
        "id": str(uuid.uuid4()),
        "source": "ticket_service",
        "type": TicketStatusChanged.event_type,
        "subject": str(ticket.id),
        "time": "2025-03-01T12:30:00Z",
        "data": data.model_dump(mode="json"),
    }
    return CloudEvent.model_validate_json(json.dumps(body))


def test_the_document_is_asyncapi_3_with_info_and_an_amqp_server() -> None:
    document = asyncapi_document()
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["title"] == "Support Desk events"
    assert "at least once" in document["info"]["description"]
    assert "`id`" in document["info"]["description"]
    assert [server["protocol"] for server in document["servers"].values()] == ["amqp"]


def test_every_event_type_is_a_channel_on_the_topic_exchange_with_its_routing_key() -> None:
    document = asyncapi_document()
    assert list(document["channels"]) == list(EVENT_CATALOG)
    for event_type in EVENT_CATALOG:
        channel = document["channels"][event_type]
        assert channel["address"] == routing_key(event_type)
        exchange = channel["bindings"]["amqp"]["exchange"]
        assert exchange == exchange | {"name": EVENTS_EXCHANGE, "type": "topic", "durable": True}
        operation = document["operations"][event_type]
        assert operation["action"] == "send"
        assert operation["channel"] == {"$ref": f"#/channels/{event_type}"}
        assert operation["bindings"]["amqp"]["cc"] == [routing_key(event_type)]


def test_every_message_is_named_described_and_a_cloudevent() -> None:
    document = asyncapi_document()
    for event_type, (_, description) in EVENT_CATALOG.items():
        (message_ref,) = document["channels"][event_type]["messages"].values()
        message = resolve(document, message_ref)
        assert message["name"] == event_type
        assert message["title"]
        assert message["description"] == description
        assert message["contentType"] == CONTENT_TYPE


def test_every_payload_is_the_envelope_around_its_models_schema() -> None:
    document = asyncapi_document()
    for event_type, (model, _) in EVENT_CATALOG.items():
        payload = payload_of(document, event_type)
        assert ENVELOPE_FIELDS | {"data"} <= set(payload["properties"])
        assert payload["properties"]["type"]["const"] == event_type
        assert {"id", "source", "type", "time", "data"} <= set(payload["required"])
        data = resolve(document, payload["properties"]["data"])
        expected = model.model_json_schema(by_alias=True)
        assert set(data["properties"]) == set(expected["properties"])
        assert set(data["required"]) == set(expected["required"])


def test_status_changed_data_has_ticket_from_to_and_actor() -> None:
    document = asyncapi_document()
    payload = payload_of(document, TicketStatusChanged.event_type)
    data = resolve(document, payload["properties"]["data"])
    assert set(data["properties"]) == {"ticket", "from", "to", "actor_id"}
    status = resolve(document, data["properties"]["to"])
    assert status["enum"] == ["open", "in_progress", "resolved"]
    ticket = resolve(document, data["properties"]["ticket"])
    assert {"id", "status", "priority", "assignee_id"} <= set(ticket["properties"])


def test_every_reference_resolves() -> None:
    document = asyncapi_document()
    for ref in all_refs(document):
        assert ref.startswith("#/")
        resolve(document, {"$ref": ref})


def test_the_document_is_json_and_each_call_gets_its_own_copy() -> None:
    document = asyncapi_document()
    assert json.loads(json.dumps(document)) == document
    document["channels"].clear()
    assert asyncapi_document()["channels"]


def test_the_document_is_the_same_in_every_process() -> None:
    script = "import sys, gateway.asyncapi as a; sys.stdout.buffer.write(a.asyncapi_json())"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1


def test_the_gateway_serves_the_document_without_auth() -> None:
    # Not entered as a context manager: the lifespan, which connects to RabbitMQ, does not run.
    client = TestClient(create_app())
    response = client.get("/api/asyncapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == asyncapi_document()


def test_the_example_formats_a_status_change() -> None:
    event = status_changed_event()
    line = ticket_subscriber.format_line(event)
    ticket_id = event.data["ticket"]["id"]
    assert line.startswith("2025-03-01T12:30:00+00:00 support.ticket.status_changed ")
    assert f"ticket={ticket_id}" in line
    assert "status=in_progress" in line
    assert "open -> in_progress" in line
    assert f"by={event.data['actor_id']}" in line


@pytest.mark.parametrize("event_type", [TicketCreated.event_type, "support.ticket.archived"])
def test_the_example_formats_other_ticket_events(event_type: str) -> None:
    event = status_changed_event()
    event = event.model_copy(update={"type": event_type, "data": event.data["ticket"]})
    line = ticket_subscriber.format_line(event)
    assert event_type in line
    assert str(event.subject) in line


def test_the_example_formats_an_update_with_its_changes() -> None:
    event = status_changed_event()
    data = {"ticket": event.data["ticket"], "actor_id": event.data["actor_id"]}
    data["changes"] = [{"field": "priority", "from": "normal", "to": "high"}]
    event = event.model_copy(update={"type": TicketUpdated.event_type, "data": data})
    line = ticket_subscriber.format_line(event)
    assert f"ticket={event.data['ticket']['id']}" in line
    assert "priority: normal -> high" in line


def test_the_example_drops_a_redelivered_event() -> None:
    lines: list[str] = []
    seen = ticket_subscriber.RecentIds()
    event = status_changed_event()
    ticket_subscriber.handle(event, seen, lines.append)
    ticket_subscriber.handle(event.model_copy(), seen, lines.append)
    assert len(lines) == 1
    ticket_subscriber.handle(event.model_copy(update={"id": uuid.uuid4()}), seen, lines.append)
    assert len(lines) == 2


def test_the_examples_memory_of_ids_is_bounded() -> None:
    seen = ticket_subscriber.RecentIds(size=2)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for event_id in (first, second, third):
        seen.add(event_id)
    assert first not in seen
    assert second in seen
    assert third in seen


def test_the_example_declares_a_quorum_queue_dead_lettering_to_the_dlx() -> None:
    queue = ticket_subscriber.queue
    assert queue.durable
    assert queue.routing_key == "ticket.#"
    assert queue.arguments == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 5,
        "x-dead-letter-exchange": "support.dlx",
        "x-dead-letter-routing-key": queue.name,
    }
