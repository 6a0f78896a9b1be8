"""Ticket events for other systems, and at-least-once delivery to our own consumers."""

import asyncio
import json
import time
import uuid
from typing import Any

import aio_pika
import httpx

from contracts.names import EVENTS_EXCHANGE
from support.api import (
    User,
    answered_message,
    assert_problem,
    eventually,
    file_ticket,
    new_chat,
    sign_up,
)
from support.events import tap
from support.stack import Stack

CLOUDEVENT_FIELDS = {"specversion", "id", "source", "type", "subject", "time", "data"}


def test_a_subscriber_on_ticket_hash_sees_created_then_status_changed(
    api: httpx.Client, stack: Stack, customer: User, agent: User
) -> None:
    message = answered_message(api, customer)

    async def scenario() -> list[dict[str, Any]]:
        async with tap(stack.infra.amqp_url, "ticket.#") as events:
            ticket = (await asyncio.to_thread(file_ticket, api, customer, message["id"])).json()
            await asyncio.to_thread(
                api.patch,
                f"/api/tickets/{ticket['id']}",
                json={"status": "in_progress", "priority": "high"},
                headers=agent.headers,
            )
            mine = [e async for e in _take(events, ticket["id"], 3)]
        return mine

    created, changed, updated = asyncio.run(scenario())
    for event in (created, changed, updated):
        assert event.keys() >= CLOUDEVENT_FIELDS
        assert (event["specversion"], event["source"]) == ("1.0", "/tickets")
        uuid.UUID(event["id"])
        assert event["time"].endswith("Z")
    assert created["type"] == "support.ticket.created"
    assert created["data"]["status"] == "open"
    assert changed["type"] == "support.ticket.status_changed"
    assert (changed["data"]["from"], changed["data"]["to"]) == ("open", "in_progress")
    assert changed["data"]["actor_id"] == agent.id
    assert updated["type"] == "support.ticket.updated"
    assert updated["data"]["changes"] == [{"field": "priority", "from": "normal", "to": "high"}]


async def _take(events: Any, subject: str, count: int) -> Any:
    seen: list[str] = []
    deadline = time.monotonic() + 10
    while len(seen) < count and time.monotonic() < deadline:
        matching = [e for e in events.events if e["subject"] == subject and e["id"] not in seen]
        for event in matching:
            seen.append(event["id"])
            yield event
        if len(seen) < count:
            await asyncio.sleep(0.05)


async def _publish_twice(amqp_url: str, event: dict[str, Any]) -> None:
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    exchange = await channel.get_exchange(EVENTS_EXCHANGE)
    body = json.dumps(event).encode()
    for _ in range(2):
        await exchange.publish(
            aio_pika.Message(body, message_id=event["id"]), event["type"].removeprefix("support.")
        )
    await connection.close()


async def _queue_depth(amqp_url: str, queue: str) -> int:
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel()
    declared = await channel.declare_queue(queue, passive=True)
    await connection.close()
    return int(declared.declaration_result.message_count or 0)


def test_user_deleted_delivered_twice_deletes_once_and_fails_nothing(
    api: httpx.Client, stack: Stack, admin: User
) -> None:
    """The chat and ticket consumers of ``user.deleted`` get the same event twice."""
    user = sign_up(api)
    message = answered_message(api, user)
    ticket = file_ticket(api, user, message["id"]).json()
    keeper = sign_up(api)
    kept_chat = new_chat(api, keeper)
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/users",
        "type": "support.user.deleted",
        "subject": user.id,
        "time": "2026-11-23T00:00:00Z",
        "data": {"user_id": user.id, "hard": True},
    }
    asyncio.run(_publish_twice(stack.infra.amqp_url, event))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        gone = api.get(f"/api/tickets/{ticket['id']}", headers=admin.headers).status_code == 404
        if (
            gone
            and api.get(f"/api/chats/{message['chat_id']}", headers=admin.headers).status_code
            == 404
        ):
            break
        time.sleep(0.2)
    assert_problem(api.get(f"/api/tickets/{ticket['id']}", headers=admin.headers), 404)
    assert_problem(api.get(f"/api/chats/{message['chat_id']}", headers=admin.headers), 404)
    assert api.get(f"/api/chats/{kept_chat}", headers=admin.headers).status_code == 200
    time.sleep(0.5)
    for queue in ("chat.user-deleted", "tickets.user-deleted"):
        assert asyncio.run(_queue_depth(stack.infra.amqp_url, queue)) == 0
        assert asyncio.run(_queue_depth(stack.infra.amqp_url, f"{queue}.dlq")) == 0, (
            "nothing failed"
        )


def test_hard_deleting_a_user_deletes_their_tickets(api: httpx.Client, admin: User) -> None:
    user = sign_up(api)
    ticket = file_ticket(api, user, answered_message(api, user)["id"]).json()
    assert api.delete(f"/api/users/{user.id}?hard=true", headers=admin.headers).status_code == 204
    gone = eventually(
        lambda: api.get(f"/api/tickets/{ticket['id']}", headers=admin.headers),
        lambda r: r.status_code == 404,
    )
    assert_problem(gone, 404)
