"""Every Auth row of docs/api.md: the password flow, refresh rotation, logout, bad tokens."""

import time

import httpx
import jwt

from support.api import PASSWORD, User, assert_problem, login, sign_up
from support.stack import JWT_SECRET


def test_login_answers_a_bearer_token_pair(api: httpx.Client, customer: User) -> None:
    response = login(api, customer.email.upper(), PASSWORD)
    assert response.status_code == 200
    tokens = response.json()
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] > 0
    assert tokens["refresh_token"] and tokens["access_token"]
    assert response.headers["cache-control"] == "no-store"
    me = api.get("/api/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["id"] == customer.id


def test_wrong_password_or_unknown_email_answer_401(api: httpx.Client, customer: User) -> None:
    for email, password in ((customer.email, "Wrong-password-9"), ("nobody@example.com", PASSWORD)):
        response = login(api, email, password)
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"


def test_login_form_must_be_complete(api: httpx.Client) -> None:
    assert_problem(api.post("/api/auth/token", data={"username": "a@b.co"}), 422)


def test_refresh_rotates_and_a_spent_token_answers_401(api: httpx.Client, customer: User) -> None:
    first = api.post("/api/auth/refresh", json={"refresh_token": customer.refresh_token})
    assert first.status_code == 200
    pair = first.json()
    assert pair["refresh_token"] != customer.refresh_token
    me = api.get("/api/users/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200
    reuse = api.post("/api/auth/refresh", json={"refresh_token": customer.refresh_token})
    assert_problem(reuse, 401, "unauthorized")
    # Reuse of a spent token means it leaked: the whole chain is revoked, the new one too.
    chained = api.post("/api/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert_problem(chained, 401, "unauthorized")


def test_refresh_with_garbage_answers_401_or_422(api: httpx.Client) -> None:
    assert_problem(api.post("/api/auth/refresh", json={"refresh_token": "nope"}), 401)
    assert_problem(api.post("/api/auth/refresh", json={}), 422)
    assert_problem(api.post("/api/auth/refresh", json={"refresh_token": "x", "more": 1}), 422)


def test_logout_revokes_the_refresh_token(api: httpx.Client, customer: User) -> None:
    body = {"refresh_token": customer.refresh_token}
    assert_problem(api.post("/api/auth/logout", json=body), 401)
    assert api.post("/api/auth/logout", json=body, headers=customer.headers).status_code == 204
    assert_problem(api.post("/api/auth/refresh", json=body), 401)


def _claims(user: User, **changes: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": user.id,
        "role": "admin",
        "iss": "support-desk",
        "aud": "support-desk-api",
        "iat": now,
        "exp": now + 600,
        "jti": "x",
    }
    claims.update(changes)
    return claims


def test_bad_tokens_answer_401_with_www_authenticate(api: httpx.Client, customer: User) -> None:
    header, payload, signature = customer.token.split(".")
    forged_role = jwt.encode(_claims(customer), "another-secret-0123456789abcdef-0123", "HS256")
    unsigned = jwt.encode(_claims(customer), None, "none")
    bad = [
        f"{header}.{payload}.{signature[::-1]}",
        forged_role,
        unsigned,
        jwt.encode(_claims(customer, exp=int(time.time()) - 5), JWT_SECRET, "HS256"),
        jwt.encode(_claims(customer, iss="someone-else"), JWT_SECRET, "HS256"),
        jwt.encode(_claims(customer, aud="another-api"), JWT_SECRET, "HS256"),
        "not.a.jwt",
    ]
    for token in bad:
        response = api.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_token_we_signed_is_honoured(api: httpx.Client, customer: User) -> None:
    """The control for the test above: the same construction with our secret works."""
    token = jwt.encode(_claims(customer, role="customer"), JWT_SECRET, "HS256")
    response = api.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_staff_created_by_admin_log_in_with_their_role(api: httpx.Client, admin: User) -> None:
    agent = sign_up(api, role="agent", admin=admin)
    claims = jwt.decode(agent.token, options={"verify_signature": False})
    assert claims["role"] == "agent"
