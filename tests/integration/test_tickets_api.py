"""Every Tickets row of docs/api.md: filing, one per message, the workflow, history, lists,
stats and the CSV export."""

import asyncio
import csv
import io
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from support.api import User, answered_message, ask, assert_problem, file_ticket, new_chat, sign_up
from support.stack import Stack


@pytest.fixture
def ticket(api: httpx.Client, customer: User) -> dict[str, Any]:
    message = answered_message(api, customer)
    response = file_ticket(api, customer, message["id"], description="cites the wrong article")
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_the_owner_files_a_ticket_on_a_message(api: httpx.Client, customer: User) -> None:
    message = answered_message(api, customer)
    response = file_ticket(
        api, customer, message["id"], "incorrect_answer", description="  wrong  "
    )
    assert response.status_code == 201
    ticket = response.json()
    assert response.headers["location"] == f"/api/tickets/{ticket['id']}"
    assert ticket["message_id"] == message["id"]
    assert ticket["chat_id"] == message["chat_id"]
    assert ticket["user_id"] == ticket["reporter_id"] == customer.id
    assert (ticket["issue_type"], ticket["status"], ticket["priority"]) == (
        "incorrect_answer",
        "open",
        "normal",
    )
    assert ticket["description"] == "wrong"
    assert ticket["assignee_id"] is None
    assert ticket["resolved_at"] is None


def test_an_agent_files_a_ticket_on_a_customers_message(
    api: httpx.Client, customer: User, agent: User
) -> None:
    message = answered_message(api, customer)
    ticket = file_ticket(api, agent, message["id"], "ui_error").json()
    assert (ticket["user_id"], ticket["reporter_id"]) == (customer.id, agent.id)
    assert api.get(f"/api/tickets/{ticket['id']}", headers=customer.headers).status_code == 200


def test_a_message_not_yours_or_missing_answers_404(api: httpx.Client, customer: User) -> None:
    message = answered_message(api, customer)
    assert_problem(file_ticket(api, sign_up(api), message["id"]), 404, "not_found")
    assert_problem(file_ticket(api, customer, str(uuid.uuid4())), 404, "not_found")


def test_a_ticket_on_a_message_created_a_moment_ago(api: httpx.Client, customer: User) -> None:
    chat_id = new_chat(api, customer)
    message = ask(api, customer, chat_id, "Is there a mobile app?", wait=0).json()
    assert file_ticket(api, customer, message["id"], "other").status_code == 201


def test_a_second_ticket_on_a_message_answers_409_with_the_first(
    api: httpx.Client, customer: User, agent: User, ticket: dict[str, Any]
) -> None:
    problem = assert_problem(
        file_ticket(api, agent, ticket["message_id"], "bad_prompt"), 409, "ticket_exists"
    )
    assert problem["ticket_id"] == ticket["id"]


def test_twenty_concurrent_creates_give_one_ticket(api: httpx.Client, customer: User) -> None:
    message = answered_message(api, customer)

    async def race() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=str(api.base_url), timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/api/tickets",
                        json={"message_id": message["id"], "issue_type": "other"},
                        headers=customer.headers,
                    )
                    for _ in range(20)
                )
            )

    responses = asyncio.run(race())
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 19
    winner = next(r.json()["id"] for r in responses if r.status_code == 201)
    assert {r.json()["ticket_id"] for r in responses if r.status_code == 409} == {winner}
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"ticket_exists"}


@pytest.mark.parametrize(
    "body",
    [
        {"issue_type": "typo"},
        {"issue_type": "other", "severity": "high"},
        {"issue_type": None},
        {"issue_type": "other", "description": "x" * 4001},
    ],
)
def test_invalid_ticket_answers_422(
    api: httpx.Client, customer: User, body: dict[str, Any]
) -> None:
    message = answered_message(api, customer)
    response = api.post(
        "/api/tickets", json={"message_id": message["id"], **body}, headers=customer.headers
    )
    assert_problem(response, 422, "validation_error")


def test_who_sees_a_ticket(
    api: httpx.Client, customer: User, agent: User, admin: User, ticket: dict[str, Any]
) -> None:
    for reader in (customer, agent, admin):
        assert api.get(f"/api/tickets/{ticket['id']}", headers=reader.headers).json() == ticket
    assert_problem(api.get(f"/api/tickets/{ticket['id']}", headers=sign_up(api).headers), 404)
    assert_problem(api.get(f"/api/tickets/{uuid.uuid4()}", headers=agent.headers), 404)


def _patch(api: httpx.Client, user: User, ticket_id: str, **body: Any) -> httpx.Response:
    return api.patch(f"/api/tickets/{ticket_id}", json=body, headers=user.headers)


def test_the_workflow(api: httpx.Client, agent: User, ticket: dict[str, Any]) -> None:
    tid = ticket["id"]
    started = _patch(api, agent, tid, status="in_progress")
    assert started.status_code == 200
    assert started.json()["status"] == "in_progress"
    again = _patch(api, agent, tid, status="in_progress")
    assert again.status_code == 200
    assert again.json() == started.json(), "the same status again is a no-op"
    resolved = _patch(api, agent, tid, status="resolved").json()
    assert resolved["resolved_at"] is not None
    assert_problem(_patch(api, agent, tid, status="in_progress"), 409, "invalid_transition")
    reopened = _patch(api, agent, tid, status="open").json()
    assert (reopened["status"], reopened["resolved_at"]) == ("open", None)
    assert _patch(api, agent, tid, status="resolved").json()["status"] == "resolved"


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        (["in_progress", "open"], True),
        (["resolved", "open", "in_progress"], True),
        (["resolved", "resolved"], True),
        (["in_progress", "resolved", "in_progress"], False),
    ],
)
def test_transitions(
    api: httpx.Client, agent: User, customer: User, path: list[str], allowed: bool
) -> None:
    ticket = file_ticket(api, customer, answered_message(api, customer)["id"]).json()
    for step in path[:-1]:
        assert _patch(api, agent, ticket["id"], status=step).status_code == 200
    last = _patch(api, agent, ticket["id"], status=path[-1])
    assert (last.status_code == 200) is allowed, last.text


def test_only_agents_and_admins_change_tickets(
    api: httpx.Client, customer: User, admin: User, ticket: dict[str, Any]
) -> None:
    assert_problem(_patch(api, customer, ticket["id"], status="resolved"), 403, "forbidden")
    assert_problem(_patch(api, sign_up(api), ticket["id"], status="resolved"), 404, "not_found")
    assert _patch(api, admin, ticket["id"], priority="urgent").json()["priority"] == "urgent"


def test_assignee_must_be_staff(
    api: httpx.Client, customer: User, agent: User, admin: User, ticket: dict[str, Any]
) -> None:
    tid = ticket["id"]
    assert _patch(api, admin, tid, assignee_id=agent.id).json()["assignee_id"] == agent.id
    assert _patch(api, agent, tid, assignee_id=admin.id).json()["assignee_id"] == admin.id
    for nobody in (customer.id, str(uuid.uuid4())):
        problem = assert_problem(
            _patch(api, agent, tid, assignee_id=nobody), 422, "validation_error"
        )
        assert problem["errors"][0]["loc"] == ["body", "assignee_id"]
    assert _patch(api, agent, tid, assignee_id=None).json()["assignee_id"] is None


@pytest.mark.parametrize(
    "body", [{"status": None}, {"priority": "critical"}, {"status": "closed"}, {"title": "x"}]
)
def test_invalid_patch_answers_422(
    api: httpx.Client, agent: User, ticket: dict[str, Any], body: dict[str, Any]
) -> None:
    assert_problem(_patch(api, agent, ticket["id"], **body), 422, "validation_error")


def test_history_has_one_row_per_change_oldest_first(
    api: httpx.Client, customer: User, agent: User, ticket: dict[str, Any]
) -> None:
    tid = ticket["id"]
    _patch(api, agent, tid, status="in_progress", priority="high", assignee_id=agent.id)
    _patch(api, agent, tid, status="in_progress")  # no-op: no row
    _patch(api, agent, tid, status="resolved")
    response = api.get(f"/api/tickets/{tid}/history", headers=customer.headers)
    assert response.status_code == 200
    rows = response.json()
    assert [(r["field"], r["from"], r["to"]) for r in rows] == [
        ("status", None, "open"),
        ("status", "open", "in_progress"),
        ("priority", "normal", "high"),
        ("assignee_id", None, agent.id),
        ("status", "in_progress", "resolved"),
    ]
    assert [r["actor_id"] for r in rows] == [customer.id] + [agent.id] * 4
    assert [r["at"] for r in rows] == sorted(r["at"] for r in rows)
    assert_problem(api.get(f"/api/tickets/{tid}/history", headers=sign_up(api).headers), 404)


def test_ticket_of_a_message(
    api: httpx.Client, customer: User, agent: User, ticket: dict[str, Any]
) -> None:
    url = f"/api/messages/{ticket['message_id']}/ticket"
    assert api.get(url, headers=customer.headers).json() == ticket
    assert api.get(url, headers=agent.headers).json() == ticket
    assert_problem(api.get(url, headers=sign_up(api).headers), 404)
    bare = answered_message(api, customer)
    assert_problem(api.get(f"/api/messages/{bare['id']}/ticket", headers=customer.headers), 404)


def test_lists_and_filters(api: httpx.Client, agent: User) -> None:
    owner = sign_up(api)
    tickets = [
        file_ticket(api, owner, answered_message(api, owner)["id"], kind).json()
        for kind in ("wrong_reference", "ui_error", "ui_error")
    ]
    _patch(
        api, agent, tickets[1]["id"], status="in_progress", priority="high", assignee_id=agent.id
    )

    def ids(user: User, **params: Any) -> list[str]:
        response = api.get("/api/tickets", params=params, headers=user.headers)
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()["items"]]

    newest_first = [t["id"] for t in reversed(tickets)]
    assert ids(owner) == newest_first, "a customer sees their own"
    assert ids(agent, user_id=owner.id) == newest_first
    assert ids(agent, user_id=owner.id, issue_type="ui_error") == newest_first[:2]
    assert ids(agent, user_id=owner.id, status="in_progress") == [tickets[1]["id"]]
    assert ids(agent, user_id=owner.id, priority="high", assignee_id=agent.id) == [tickets[1]["id"]]
    first = api.get(
        "/api/tickets",
        params={"user_id": owner.id, "limit": 2, "include_total": "true"},
        headers=agent.headers,
    ).json()
    assert first["total"] == 3
    rest = api.get(
        "/api/tickets",
        params={"user_id": owner.id, "limit": 2, "cursor": first["next_cursor"]},
        headers=agent.headers,
    ).json()
    assert [t["id"] for t in first["items"] + rest["items"]] == newest_first
    assert_problem(
        api.get("/api/tickets", params={"user_id": agent.id}, headers=owner.headers), 403
    )
    assert_problem(api.get("/api/tickets", params={"status": "lost"}, headers=agent.headers), 422)


def test_stats(api: httpx.Client, customer: User, agent: User) -> None:
    before = api.get("/api/tickets/stats", headers=agent.headers).json()
    assert set(before["by_status"]) == {"open", "in_progress", "resolved"}
    assert set(before["by_issue_type"]) == {
        "wrong_reference",
        "bad_prompt",
        "ui_error",
        "incorrect_answer",
        "harmful_content",
        "other",
    }
    assert (
        before["total"]
        == sum(before["by_status"].values())
        == sum(before["by_issue_type"].values())
    )
    file_ticket(api, customer, answered_message(api, customer)["id"], "harmful_content")
    after = api.get("/api/tickets/stats", headers=agent.headers).json()
    assert after["total"] == before["total"] + 1
    assert after["by_status"]["open"] == before["by_status"]["open"] + 1
    assert (
        after["by_issue_type"]["harmful_content"] == before["by_issue_type"]["harmful_content"] + 1
    )
    assert_problem(api.get("/api/tickets/stats", headers=customer.headers), 403)


def test_export_streams_every_matching_ticket_as_csv(
    api: httpx.Client, stack: Stack, agent: User, customer: User
) -> None:
    """1,234 tickets: more than two pages of the export, each ticket once, in order."""
    owner = uuid.uuid4()

    async def seed() -> None:
        connection = await asyncpg.connect(stack.infra.dsn)
        await connection.execute(
            "INSERT INTO tickets.tickets (message_id, chat_id, user_id, reporter_id, issue_type,"
            " description, created_at) SELECT gen_random_uuid(), gen_random_uuid(), $1, $1,"
            " 'other', CASE WHEN i = 7 THEN '=HYPERLINK(\"x\")' ELSE 'row ' || i END,"
            " now() - i * interval '1 second' FROM generate_series(1, 1234) AS i",
            owner,
        )
        await connection.close()

    asyncio.run(seed())
    with api.stream(
        "GET", "/api/tickets/export", params={"user_id": str(owner)}, headers=agent.headers
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        text = response.read().decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 1234
    assert len({r["id"] for r in rows}) == 1234
    assert [r["description"] for r in rows[:2]] == ["row 1", "row 2"], "newest first"
    assert rows[6]["description"] == '\'=HYPERLINK("x")', "formulas are neutralised"
    assert set(rows[0]) == {
        "id",
        "message_id",
        "chat_id",
        "user_id",
        "reporter_id",
        "issue_type",
        "status",
        "priority",
        "assignee_id",
        "description",
        "created_at",
        "updated_at",
        "resolved_at",
    }
    assert_problem(api.get("/api/tickets/export", headers=customer.headers), 403)
