"""Every outcome of a command becomes a reply: a handler never leaves its caller waiting."""

import asyncpg
import pytest

from contracts.enums import ErrorCode
from contracts.rpc import REPLY_ERROR, REPLY_OK, ErrorReply, Ping, Pong
from servicekit.errors import Conflict
from servicekit.rpc_server import dispatch
from servicekit.usecases import UseCases

router: UseCases[None] = UseCases()


async def ok(command: Ping, _: None) -> Pong:
    return Pong(service="s", database=True)


router.serve("ok", Ping, ok)


async def nothing(command: Ping, _: None) -> None:
    return None


router.serve("nothing", Ping, nothing)


async def conflict(command: Ping, _: None) -> None:
    raise Conflict("taken", ticket_id="t-1")


router.serve("conflict", Ping, conflict)


async def bug(command: Ping, _: None) -> None:
    raise KeyError("secret internals")


router.serve("bug", Ping, bug)


async def db_down(command: Ping, _: None) -> None:
    raise ConnectionRefusedError("connect call failed")


router.serve("db-down", Ping, db_down)


async def db_gone(command: Ping, _: None) -> None:
    raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")


router.serve("db-gone", Ping, db_gone)


async def run(queue: str, body: bytes = b"{}") -> tuple[str, bytes]:
    return await dispatch(router.routes[queue], lambda: None, body)


async def test_result_is_the_bare_json() -> None:
    assert await run("ok") == (REPLY_OK, b'{"service":"s","database":true}')
    assert await run("nothing") == (REPLY_OK, b"")


async def test_domain_error_is_a_typed_reply_with_its_details() -> None:
    kind, body = await run("conflict")
    reply = ErrorReply.model_validate_json(body)
    assert kind == REPLY_ERROR
    assert (reply.code, reply.detail, reply.extra) == (
        ErrorCode.CONFLICT,
        "taken",
        {"ticket_id": "t-1"},
    )


async def test_undecodable_command_is_a_validation_reply() -> None:
    kind, body = await run("ok", b"not json")
    assert kind == REPLY_ERROR
    assert ErrorReply.model_validate_json(body).code == ErrorCode.VALIDATION


async def test_a_bug_is_an_internal_reply_that_leaks_nothing() -> None:
    kind, body = await run("bug")
    reply = ErrorReply.model_validate_json(body)
    assert (kind, reply.code) == (REPLY_ERROR, ErrorCode.INTERNAL)
    assert "secret" not in reply.detail


@pytest.mark.parametrize("queue", ["db-down", "db-gone"])
async def test_database_outage_is_an_unavailable_reply(queue: str) -> None:
    _, body = await run(queue)
    assert ErrorReply.model_validate_json(body).code == ErrorCode.UNAVAILABLE
