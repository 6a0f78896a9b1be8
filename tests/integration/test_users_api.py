"""Every Users row of docs/api.md: HTTP -> gateway -> broker -> users service -> Postgres."""

import uuid

import httpx
import pytest

from support.api import PASSWORD, User, assert_problem, login, sign_up, unique_email


def test_sign_up_creates_a_customer_and_answers_its_location(api: httpx.Client) -> None:
    email = unique_email()
    response = api.post(
        "/api/users", json={"email": email, "password": PASSWORD, "full_name": "  Ada Lovelace "}
    )
    assert response.status_code == 201
    user = response.json()
    assert response.headers["location"] == f"/api/users/{user['id']}"
    assert user["email"] == email
    assert user["full_name"] == "Ada Lovelace"
    assert user["role"] == "customer"
    assert user["deleted_at"] is None
    assert set(user) == {
        "id",
        "email",
        "full_name",
        "role",
        "created_at",
        "updated_at",
        "deleted_at",
    }


def test_taken_email_answers_409_whatever_its_case(api: httpx.Client, customer: User) -> None:
    body = {"email": customer.email.upper(), "password": PASSWORD, "full_name": "Twin"}
    assert_problem(api.post("/api/users", json=body), 409, "conflict")


@pytest.mark.parametrize("password", ["Short-1", "alllowercaseletters", "12345678901234"])
def test_weak_password_answers_422(api: httpx.Client, password: str) -> None:
    body = {"email": unique_email(), "password": password, "full_name": "Weak"}
    problem = assert_problem(api.post("/api/users", json=body), 422, "validation_error")
    assert problem["errors"][0]["loc"] == ["body", "password"]


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD, "full_name": "X"},
        {"email": "a@example.com", "password": PASSWORD, "full_name": "   "},
        {"email": "a@example.com", "password": PASSWORD, "full_name": "X", "is_admin": True},
        {"email": "a@example.com", "password": PASSWORD},
        {"email": "a@example.com", "password": PASSWORD, "full_name": "X", "role": "superuser"},
        ["not", "an", "object"],
    ],
)
def test_invalid_sign_up_answers_422(api: httpx.Client, body: object) -> None:
    assert_problem(api.post("/api/users", json=body), 422, "validation_error")


def test_nobody_signs_up_as_staff(api: httpx.Client, customer: User) -> None:
    for headers in ({}, customer.headers):
        body = {"email": unique_email(), "password": PASSWORD, "full_name": "X", "role": "admin"}
        assert_problem(api.post("/api/users", json=body, headers=headers), 403, "forbidden")


def test_admin_creates_an_agent(api: httpx.Client, admin: User) -> None:
    agent = sign_up(api, role="agent", admin=admin)
    me = api.get("/api/users/me", headers=agent.headers).json()
    assert me["role"] == "agent"


def test_me_needs_a_token(api: httpx.Client) -> None:
    response = api.get("/api/users/me")
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


def test_get_user_self_agent_admin_see_others_do_not(
    api: httpx.Client, customer: User, agent: User, admin: User
) -> None:
    other = sign_up(api)
    path = f"/api/users/{customer.id}"
    for viewer in (customer, agent, admin):
        response = api.get(path, headers=viewer.headers)
        assert response.status_code == 200
        assert response.json()["id"] == customer.id
    assert_problem(api.get(path, headers=other.headers), 404, "not_found")


def test_unknown_or_malformed_user_id(api: httpx.Client, admin: User) -> None:
    assert_problem(api.get(f"/api/users/{uuid.uuid4()}", headers=admin.headers), 404, "not_found")
    assert_problem(api.get("/api/users/not-a-uuid", headers=admin.headers), 422)


def test_soft_deleted_user_is_hidden_except_from_admins(
    api: httpx.Client, agent: User, admin: User
) -> None:
    user = sign_up(api)
    assert api.delete(f"/api/users/{user.id}", headers=user.headers).status_code == 204
    assert_problem(api.get(f"/api/users/{user.id}", headers=agent.headers), 404, "not_found")
    seen = api.get(f"/api/users/{user.id}", headers=admin.headers)
    assert seen.status_code == 200
    assert seen.json()["deleted_at"] is not None


def test_update_own_profile(api: httpx.Client, customer: User) -> None:
    before = api.get("/api/users/me", headers=customer.headers).json()
    response = api.patch(
        f"/api/users/{customer.id}", json={"full_name": "New Name"}, headers=customer.headers
    )
    assert response.status_code == 200
    after = response.json()
    assert after["full_name"] == "New Name"
    assert after["email"] == before["email"]
    assert after["updated_at"] > before["updated_at"]


def test_password_change_takes_effect(api: httpx.Client, customer: User) -> None:
    new = "Another-pass-2"
    response = api.patch(
        f"/api/users/{customer.id}", json={"password": new}, headers=customer.headers
    )
    assert response.status_code == 200
    assert_problem(login(api, customer.email, PASSWORD), 401)
    assert login(api, customer.email, new).status_code == 200


def test_nobody_changes_their_own_role(api: httpx.Client, customer: User, agent: User) -> None:
    for user in (customer, agent):
        response = api.patch(f"/api/users/{user.id}", json={"role": "admin"}, headers=user.headers)
        assert_problem(response, 403, "forbidden")


def test_update_of_others(api: httpx.Client, customer: User, agent: User, admin: User) -> None:
    path = f"/api/users/{customer.id}"
    other = sign_up(api)
    assert_problem(api.patch(path, json={"full_name": "X"}, headers=other.headers), 404)
    assert_problem(api.patch(path, json={"full_name": "X"}, headers=agent.headers), 403)
    promoted = api.patch(path, json={"role": "agent"}, headers=admin.headers)
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "agent"


def test_update_to_a_taken_email_answers_409(api: httpx.Client, customer: User) -> None:
    other = sign_up(api)
    response = api.patch(
        f"/api/users/{customer.id}", json={"email": other.email.upper()}, headers=customer.headers
    )
    assert_problem(response, 409, "conflict")


@pytest.mark.parametrize("body", [{"full_name": None}, {"nickname": "x"}, {"email": "nope"}])
def test_invalid_update_answers_422(api: httpx.Client, customer: User, body: object) -> None:
    response = api.patch(f"/api/users/{customer.id}", json=body, headers=customer.headers)
    assert_problem(response, 422, "validation_error")


def test_soft_delete_blocks_login_and_restore_brings_it_back(
    api: httpx.Client, admin: User
) -> None:
    user = sign_up(api)
    assert api.delete(f"/api/users/{user.id}", headers=user.headers).status_code == 204
    assert_problem(login(api, user.email, PASSWORD), 401, "unauthorized")
    assert_problem(api.post("/api/auth/refresh", json={"refresh_token": user.refresh_token}), 401)
    restored = api.post(f"/api/users/{user.id}/restore", headers=admin.headers)
    assert restored.status_code == 200
    assert restored.json()["deleted_at"] is None
    assert login(api, user.email, PASSWORD).status_code == 200


def test_delete_permissions(api: httpx.Client, agent: User, customer: User) -> None:
    other = sign_up(api)
    path = f"/api/users/{customer.id}"
    assert_problem(api.delete(path, headers=other.headers), 404)
    assert_problem(api.delete(path, headers=agent.headers), 403)
    assert_problem(api.delete(f"{path}?hard=true", headers=customer.headers), 403)
    assert api.get("/api/users/me", headers=customer.headers).status_code == 200


def test_restore_is_for_admins(api: httpx.Client, agent: User, admin: User) -> None:
    user = sign_up(api)
    api.delete(f"/api/users/{user.id}", headers=admin.headers)
    assert_problem(api.post(f"/api/users/{user.id}/restore", headers=agent.headers), 404)
    assert_problem(api.post(f"/api/users/{uuid.uuid4()}/restore", headers=admin.headers), 404)


def test_hard_delete_erases_the_user(api: httpx.Client, admin: User) -> None:
    user = sign_up(api)
    response = api.delete(f"/api/users/{user.id}?hard=true", headers=admin.headers)
    assert response.status_code == 204
    assert_problem(api.get(f"/api/users/{user.id}", headers=admin.headers), 404)
    assert_problem(login(api, user.email, PASSWORD), 401)
    again = api.post(
        "/api/users", json={"email": user.email, "password": PASSWORD, "full_name": "Back"}
    )
    assert again.status_code == 201, "a hard-deleted user's email is free again"
