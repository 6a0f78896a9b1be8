"""Rate limits on logging in and on asking: 429 problems with ``Retry-After``."""

import httpx
import pytest

from support.api import PASSWORD, User, assert_problem, new_chat

TIGHT = {"RATE_LIMIT_LOGIN": "3/minute", "RATE_LIMIT_MESSAGES": "2/minute"}


@pytest.mark.parametrize("lone_gateway", [TIGHT], indirect=True)
def test_login_attempts_are_limited_per_account(lone_gateway: str, customer: User) -> None:
    with httpx.Client(base_url=lone_gateway, timeout=15) as api:
        for _ in range(3):
            form = {"username": customer.email, "password": "Wrong-guess-1"}
            assert_problem(api.post("/api/auth/token", data=form), 401)
        blocked = api.post(
            "/api/auth/token", data={"username": customer.email, "password": PASSWORD}
        )
        problem = assert_problem(blocked, 429, "rate_limited")
        assert 1 <= int(blocked.headers["retry-after"]) <= 60
        assert "try again" in problem["detail"]
        other = api.post(
            "/api/auth/token", data={"username": "someone@example.com", "password": "x"}
        )
        assert_problem(other, 401), "another account is not blocked by this one's attempts"


@pytest.mark.parametrize("lone_gateway", [TIGHT], indirect=True)
def test_message_creation_is_limited_per_user(
    lone_gateway: str, api: httpx.Client, customer: User
) -> None:
    chat_id = new_chat(api, customer)
    with httpx.Client(base_url=lone_gateway, timeout=15) as lone:
        url = f"/api/chats/{chat_id}/messages"
        for _ in range(2):
            response = lone.post(url, json={"content": "Any news?"}, headers=customer.headers)
            assert response.status_code == 202
        blocked = lone.post(url, json={"content": "Any news?"}, headers=customer.headers)
        assert_problem(blocked, 429, "rate_limited")
        assert int(blocked.headers["retry-after"]) >= 1
        listed = lone.get(url, headers=customer.headers).json()["items"]
        assert len(listed) == 2, "the refused request created nothing"
