"""Health, readiness, and errors of the HTTP layer itself."""

from collections.abc import Iterator

import httpx

from support.api import assert_problem


def test_health_answers_ok(api: httpx.Client) -> None:
    response = api.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_reports_broker_and_every_service(api: httpx.Client) -> None:
    response = api.get("/api/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {
        "broker": "ok",
        "users": "ok",
        "chat": "ok",
        "tickets": "ok",
        "ai": "ok",
        "revocations": "ok",
    }


def test_unknown_route_is_a_404_problem(api: httpx.Client) -> None:
    assert_problem(api.get("/api/no-such-thing"), 404, "not_found")


def test_wrong_method_is_a_405_problem(api: httpx.Client) -> None:
    response = api.put("/api/health")
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


def test_malformed_json_is_a_400_problem(api: httpx.Client) -> None:
    response = api.post(
        "/api/users", content=b'{"email": "a@b.c",', headers={"content-type": "application/json"}
    )
    assert_problem(response, 400, "invalid_json")


def test_body_over_64_kib_is_a_413_problem(api: httpx.Client) -> None:
    body = {"email": "big@example.com", "password": "Aa-" + "x" * 70_000, "full_name": "Big"}
    assert_problem(api.post("/api/users", json=body), 413, "payload_too_large")


def test_chunked_body_over_64_kib_is_a_413_problem(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 4096

    response = api.post(
        "/api/users", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")


def test_docs_and_openapi_are_served(api: httpx.Client) -> None:
    assert api.get("/api/docs").status_code == 200
    schema = api.get("/api/openapi.json").json()
    assert "/api/users" in schema["paths"]
    assert "/api/auth/token" in schema["paths"]
