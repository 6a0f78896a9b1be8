"""Access tokens die with their user's standing: deleted, demoted, or password changed."""

import time
from pathlib import Path

import httpx

from support.api import PASSWORD, User, assert_problem, eventually, sign_in, sign_up
from support.stack import Stack, extra_gateway


def _refused(api: httpx.Client, user: User, path: str = "/api/users/me") -> None:
    response = eventually(
        lambda: api.get(path, headers=user.headers), lambda r: r.status_code == 401, timeout=5
    )
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_soft_deleted_users_token_is_refused(api: httpx.Client) -> None:
    user = sign_up(api)
    assert api.delete(f"/api/users/{user.id}", headers=user.headers).status_code == 204
    _refused(api, user)
    response = api.post("/api/chats", headers=user.headers)
    assert_problem(response, 401)


def test_a_demoted_admins_token_loses_its_power(api: httpx.Client, admin: User) -> None:
    second = sign_up(api, role="admin", admin=admin)
    assert api.get("/api/users", headers=second.headers).status_code == 200
    demoted = api.patch(f"/api/users/{second.id}", json={"role": "customer"}, headers=admin.headers)
    assert demoted.status_code == 200
    _refused(api, second, "/api/users")
    time.sleep(1.1)  # a token from the revocation's own second is refused too
    again = sign_in(api, second.email, PASSWORD)
    assert_problem(api.get("/api/users", headers=again.headers), 403)
    assert api.get("/api/users/me", headers=again.headers).json()["role"] == "customer"


def test_a_password_change_ends_other_sessions(api: httpx.Client) -> None:
    user = sign_up(api)
    response = api.patch(
        f"/api/users/{user.id}", json={"password": "Brand-new-pass-9"}, headers=user.headers
    )
    assert response.status_code == 200
    _refused(api, user)


def test_a_gateway_started_later_knows_earlier_revocations(
    api: httpx.Client, stack: Stack, tmp_path: Path
) -> None:
    user = sign_up(api)
    assert api.delete(f"/api/users/{user.id}", headers=user.headers).status_code == 204
    _refused(api, user)
    with extra_gateway(stack, tmp_path) as base, httpx.Client(base_url=base, timeout=10) as late:
        eventually(lambda: late.get("/api/ready"), lambda r: r.status_code == 200, timeout=20)
        _refused(late, user)
