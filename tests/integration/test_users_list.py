"""Listing and searching users: pagination, filters, hostile queries."""

import uuid

import httpx
import pytest

from support.api import User, assert_problem, sign_up


def _walk(api: httpx.Client, user: User, **params: str | int) -> list[list[dict[str, str]]]:
    pages, cursor = [], None
    while True:
        query: dict[str, str | int] = {**params, **({"cursor": cursor} if cursor else {})}
        response = api.get("/api/users", params=query, headers=user.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


def test_walk_of_23_matches_in_pages_of_10_yields_each_once(
    api: httpx.Client, admin: User, agent: User
) -> None:
    tag = uuid.uuid4().hex[:8]
    created = {sign_up(api, email=f"walk-{tag}-{i}@example.com").id for i in range(23)}
    pages = _walk(api, agent, q=f"walk-{tag}", limit=10)
    assert [len(p) for p in pages] == [10, 10, 3]
    seen = [item["id"] for page in pages for item in page]
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == created
    stamps = [item["created_at"] for page in pages for item in page]
    assert stamps == sorted(stamps, reverse=True), "newest first"


def test_total_is_given_when_asked(api: httpx.Client, agent: User) -> None:
    tag = uuid.uuid4().hex[:8]
    for i in range(3):
        sign_up(api, email=f"total-{tag}-{i}@example.com")
    page = api.get(
        "/api/users", params={"q": tag, "include_total": "true", "limit": 2}, headers=agent.headers
    ).json()
    assert page["total"] == 3
    assert len(page["items"]) == 2
    unasked = api.get("/api/users", params={"q": tag}, headers=agent.headers).json()
    assert "total" not in unasked


def test_search_is_case_insensitive_substring_of_email_or_name(
    api: httpx.Client, agent: User
) -> None:
    tag = uuid.uuid4().hex[:8]
    by_name = sign_up(api, full_name=f"Grace Hopper {tag.upper()}")
    by_email = sign_up(api, email=f"hopper.{tag}@example.com")

    def found(q: str) -> set[str]:
        page = api.get("/api/users", params={"q": q}, headers=agent.headers).json()
        return {u["id"] for u in page["items"]}

    assert found(tag) == found(tag.upper()) == {by_name.id, by_email.id}
    assert found(f"hopper {tag}") == {by_name.id}, "a substring of the name, in another case"
    assert found(f"PER.{tag}@EXAMPLE") == {by_email.id}, "a substring of the email"


def test_search_by_whole_words_finds_exactly_the_substring_matches(
    api: httpx.Client, agent: User
) -> None:
    """Terms with inner words (a word with a separator on each side) are looked up by their
    words first: the answers must be those of the plain substring match all the same."""
    tag = uuid.uuid4().hex[:8]
    dotted = sign_up(api, email=f"ada.{tag}.lovelace@example.com")
    longer = sign_up(api, email=f"xada.{tag}.lovelace@example.com")
    glued = sign_up(api, email=f"ada.{tag}lovelace@example.com")
    named = sign_up(api, full_name=f"Ada {tag} Lovelace")
    accented = sign_up(api, full_name=f"José {tag} Müller")
    capital_i = sign_up(api, email=f"iris.{tag}.x@example.com")

    def found(q: str) -> set[str]:
        page = api.get("/api/users", params={"q": q}, headers=agent.headers).json()
        return {u["id"] for u in page["items"]}

    assert found(f"ada.{tag}.") == {dotted.id, longer.id}, "'ada' may end a longer word"
    assert found(f"A.{tag.upper()}.L") == {dotted.id, longer.id}, "in another case"
    assert found(f".{tag}lovelace@") == {glued.id}, "a whole word is not a part of one"
    assert found(f"{tag}lovelace") == {glued.id}
    assert found(f" {tag} ") == {named.id, accented.id}, "words of names"
    assert found(f"é {tag} mü") == {accented.id}, "a term beyond ASCII"
    assert found(f"IRIS.{tag}.X@") == {capital_i.id}, "a capital I"
    assert found(f"ada.{tag}.lovelace@example.org") == set()


@pytest.mark.parametrize("q", ["' OR '1'='1", "%", "_", "\\", "x'); DROP TABLE users.users; --"])
def test_hostile_search_finds_nothing_and_breaks_nothing(
    api: httpx.Client, agent: User, q: str
) -> None:
    response = api.get("/api/users", params={"q": q}, headers=agent.headers)
    assert response.status_code == 200
    assert response.json()["items"] == []
    assert api.get("/api/users", params={"limit": 1}, headers=agent.headers).json()["items"]


def test_role_filter(api: httpx.Client, admin: User) -> None:
    params: dict[str, str | int] = {"role": "admin", "limit": 100}
    items = api.get("/api/users", params=params, headers=admin.headers).json()["items"]
    assert items
    assert {u["role"] for u in items} == {"admin"}


def test_deleted_users_are_listed_only_on_request_and_only_for_admins(
    api: httpx.Client, admin: User, agent: User
) -> None:
    tag = uuid.uuid4().hex[:8]
    user = sign_up(api, email=f"gone-{tag}@example.com")
    api.delete(f"/api/users/{user.id}", headers=user.headers)
    plain = api.get("/api/users", params={"q": tag}, headers=admin.headers).json()["items"]
    assert plain == []
    listed = api.get(
        "/api/users", params={"q": tag, "include_deleted": "true"}, headers=admin.headers
    ).json()["items"]
    assert [u["id"] for u in listed] == [user.id]
    response = api.get("/api/users", params={"include_deleted": "true"}, headers=agent.headers)
    assert_problem(response, 403, "forbidden")


def test_customers_may_not_list_users(api: httpx.Client, customer: User) -> None:
    assert_problem(api.get("/api/users", headers=customer.headers), 403, "forbidden")


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": 0}, "validation_error"),
        ({"limit": 1000}, "validation_error"),
        ({"limit": "ten"}, "validation_error"),
        ({"cursor": "garbage!"}, "invalid_cursor"),
        ({"cursor": "eyJub3QiOiAiYSBjdXJzb3IifQ"}, "invalid_cursor"),
        ({"role": "wizard"}, "validation_error"),
    ],
)
def test_bad_list_parameters_answer_422(
    api: httpx.Client, agent: User, params: dict[str, str | int], code: str
) -> None:
    response = api.get("/api/users", params=params, headers=agent.headers)
    assert_problem(response, 422, code)
