"""A NUL character (U+0000) in any text a client sends is refused with a 422 naming the field:
Postgres cannot store it in text, and it must never surface as a 500."""

from collections.abc import Callable

import httpx
import pytest

from support.api import PASSWORD, User, ask, assert_problem, file_ticket, new_chat, unique_email

NUL = "before\u0000after"
Send = Callable[[httpx.Client, User, User], httpx.Response]


def _sign_up(api: httpx.Client, _: User, __: User) -> httpx.Response:
    body = {"email": unique_email(), "password": PASSWORD, "full_name": NUL}
    return api.post("/api/users", json=body)


def _rename(api: httpx.Client, customer: User, _: User) -> httpx.Response:
    return api.patch(f"/api/users/{customer.id}", json={"full_name": NUL}, headers=customer.headers)


def _chat_title(api: httpx.Client, customer: User, _: User) -> httpx.Response:
    return api.post("/api/chats", json={"title": NUL}, headers=customer.headers)


def _message(api: httpx.Client, customer: User, _: User) -> httpx.Response:
    return ask(api, customer, new_chat(api, customer), NUL, wait=0)


def _ticket_description(api: httpx.Client, customer: User, _: User) -> httpx.Response:
    posted = ask(api, customer, new_chat(api, customer), "How do I reset my password?", wait=0)
    assert posted.status_code == 202, posted.text
    return file_ticket(api, customer, posted.json()["id"], description=NUL)


def _search(api: httpx.Client, _: User, agent: User) -> httpx.Response:
    return api.get("/api/users", params={"q": NUL}, headers=agent.headers)


def _login(api: httpx.Client, _: User, __: User) -> httpx.Response:
    return api.post("/api/auth/token", data={"username": NUL, "password": PASSWORD})


CASES = [
    pytest.param(_sign_up, "full_name", id="sign-up full_name"),
    pytest.param(_rename, "full_name", id="PATCH full_name"),
    pytest.param(_chat_title, "title", id="chat title"),
    pytest.param(_message, "content", id="message content"),
    pytest.param(_ticket_description, "description", id="ticket description"),
    pytest.param(_search, "q", id="user search q"),
    pytest.param(_login, "username", id="login username"),
]


@pytest.mark.parametrize(("send", "field"), CASES)
def test_a_nul_character_answers_422_naming_the_field(
    api: httpx.Client, customer: User, agent: User, send: Send, field: str
) -> None:
    body = assert_problem(send(api, customer, agent), 422, "validation_error")
    assert any(error["loc"][-1] == field for error in body["errors"]), body
