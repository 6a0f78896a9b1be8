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


# --- A token issued after a revocation works, even in the revocation's own second ----------


def _early_in_a_second() -> None:
    """Wait for the start of the next second: what follows (a revocation, then a login a few
    milliseconds later) then falls within one second, the case tokens of whole-second ``iat``
    could not tell apart."""
    time.sleep(1 - time.time() % 1)


def _works(api: httpx.Client, user: User, path: str = "/api/users/me") -> httpx.Response:
    response = api.get(path, headers=user.headers)
    assert response.status_code == 200, response.text
    return response


def test_a_login_right_after_a_password_change_works(api: httpx.Client) -> None:
    user = sign_up(api)
    _early_in_a_second()
    new_password = "Brand-new-pass-9"
    response = api.patch(
        f"/api/users/{user.id}", json={"password": new_password}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    again = sign_in(api, user.email, new_password)
    _refused(api, user)  # the old token dies: every gateway has heard of the revocation now
    _works(api, again)  # and the new one, issued after it, lives on
    time.sleep(1.1)
    _works(api, again)


def test_a_login_right_after_a_role_change_works(api: httpx.Client, admin: User) -> None:
    user = sign_up(api)
    assert_problem(api.get("/api/users", headers=user.headers), 403)
    _early_in_a_second()
    promoted = api.patch(f"/api/users/{user.id}", json={"role": "agent"}, headers=admin.headers)
    assert promoted.status_code == 200, promoted.text
    again = sign_in(api, user.email, PASSWORD)
    _refused(api, user)
    _works(api, again, "/api/users")  # an agent's power, at once
    time.sleep(1.1)
    _works(api, again, "/api/users")


def test_a_refresh_right_after_a_role_change_works(api: httpx.Client, admin: User) -> None:
    """A role change keeps refresh tokens; the access token a refresh issues after it works."""
    user = sign_up(api)
    _early_in_a_second()
    promoted = api.patch(f"/api/users/{user.id}", json={"role": "agent"}, headers=admin.headers)
    assert promoted.status_code == 200, promoted.text
    pair = api.post("/api/auth/refresh", json={"refresh_token": user.refresh_token})
    assert pair.status_code == 200, pair.text
    fresh = User(user.id, user.email, PASSWORD, pair.json()["access_token"], "")
    _refused(api, user)
    _works(api, fresh, "/api/users")
    time.sleep(1.1)
    _works(api, fresh, "/api/users")


def test_a_login_right_after_a_restore_works(api: httpx.Client, admin: User) -> None:
    user = sign_up(api)
    _early_in_a_second()
    assert api.delete(f"/api/users/{user.id}", headers=admin.headers).status_code == 204
    restored = api.post(f"/api/users/{user.id}/restore", headers=admin.headers)
    assert restored.status_code == 200, restored.text
    again = sign_in(api, user.email, PASSWORD)
    _refused(api, user)  # the token from before the delete stays void after the restore
    _works(api, again)
    time.sleep(1.1)
    _works(api, again)
