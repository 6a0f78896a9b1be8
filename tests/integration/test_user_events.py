"""Users publish their changes as CloudEvents on ``support.events`` (through the outbox)."""

import asyncio
from typing import Any

import httpx

from support.api import User, sign_up
from support.events import tap
from support.stack import Stack

CLOUDEVENT_FIELDS = {"specversion", "id", "source", "type", "subject", "time", "data"}


def test_user_life_is_published_as_cloudevents(
    api: httpx.Client, stack: Stack, admin: User
) -> None:
    async def scenario() -> list[dict[str, Any]]:
        async with tap(stack.infra.amqp_url, "user.#") as events:
            user = await asyncio.to_thread(sign_up, api)
            await asyncio.to_thread(
                api.delete, f"/api/users/{user.id}?hard=true", headers=admin.headers
            )
            created = await events.wait_for(
                lambda e: e["type"] == "support.user.created" and e["subject"] == user.id
            )
            deleted = await events.wait_for(
                lambda e: e["type"] == "support.user.deleted" and e["subject"] == user.id
            )
            return [created, deleted]

    created, deleted = asyncio.run(scenario())
    for event in (created, deleted):
        assert event.keys() >= CLOUDEVENT_FIELDS
        assert event["specversion"] == "1.0"
        assert event["source"] == "/users"
    assert created["data"]["role"] == "customer"
    assert "password_hash" not in created["data"]
    assert deleted["data"] == {"user_id": created["subject"], "hard": True}
    assert created["id"] != deleted["id"]
