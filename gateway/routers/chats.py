"""``/api/chats``: chats, their messages, answers streamed as they are written."""

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response, StreamingResponse

from contracts.chat import (
    AddMessage,
    ChatPublic,
    CreateChat,
    GetChat,
    GetMessage,
    ListChats,
    ListMessages,
    MessagePublic,
    RetryMessage,
)
from contracts.enums import MessageStatus
from contracts.rpc import Actor, Page
from gateway.answers import AnswerWatch, Resume
from gateway.problems import problem
from gateway.ratelimit import Limits
from gateway.routers.users import Cursor, Limit
from gateway.rpc import Rpc, relay
from gateway.schemas import ChatCreateBody, MessageCreateBody
from gateway.security import CurrentActor
from gateway.streams import StreamHub
from servicekit.rpc_client import RpcClient

router = APIRouter(prefix="/chats", tags=["chats"])
MessagePath = "/{chat_id}/messages/{message_id}"
KEEPALIVE_SECONDS = 15.0
REFRESH_SECONDS = 5.0
"""A stream that hears nothing for this long reads its message again (a lost final state)."""


def _hub(request: Request) -> StreamHub:
    hub: StreamHub = request.app.state.streams
    return hub


def _json(body: bytes, status: int, location: str | None = None) -> Response:
    headers = {"Location": location} if location else None
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def _current(rpc: RpcClient, actor: Actor, chat_id: UUID, message_id: UUID) -> MessagePublic:
    command = GetMessage(actor=actor, chat_id=chat_id, message_id=message_id)
    return MessagePublic.model_validate_json(await rpc.call(command))


async def _wait_final(
    hub: StreamHub, rpc: RpcClient, actor: Actor, message: MessagePublic, seconds: float
) -> MessagePublic:
    """The message once sealed or failed, or as it is after ``seconds``."""
    async with hub.watch(message.id) as watch:
        current = await _current(rpc, actor, message.chat_id, message.id)  # it may be done already
        if current.status != MessageStatus.PENDING:
            return current
        final = await watch.final_within(seconds)
    return final or await _current(rpc, actor, message.chat_id, message.id)


@router.post("", status_code=201, response_model=ChatPublic)
async def create_chat(
    rpc: Rpc, actor: CurrentActor, body: ChatCreateBody | None = None
) -> Response:
    """Open a chat with the assistant."""
    data = body or ChatCreateBody()
    raw = await rpc.call(CreateChat(actor=actor, data=data))
    return _json(raw, 201, f"/api/chats/{orjson.loads(raw)['id']}")


@router.get("", response_model=Page[ChatPublic])
async def list_chats(
    rpc: Rpc,
    actor: CurrentActor,
    user_id: UUID | None = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Response:
    """Your chats, newest first; agents and admins may ask for any user's (``user_id``)."""
    command = ListChats(actor=actor, user_id=user_id, limit=limit, cursor=cursor)
    return await relay(rpc, command)


@router.get("/{chat_id}", response_model=ChatPublic)
async def get_chat(chat_id: UUID, rpc: Rpc, actor: CurrentActor) -> Response:
    return await relay(rpc, GetChat(actor=actor, chat_id=chat_id))


@router.post(
    "/{chat_id}/messages",
    status_code=202,
    response_model=MessagePublic,
    responses={201: {"model": MessagePublic, "description": "answered within `wait` seconds"}},
)
async def add_message(
    chat_id: UUID,
    body: MessageCreateBody,
    request: Request,
    rpc: Rpc,
    actor: CurrentActor,
    limits: Limits,
    wait: Annotated[float, Query(ge=0, le=30, description="seconds to wait for the answer")] = 0,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> Response:
    """Ask the assistant. 202 with the pending message, or with ``wait``, 201 with the answer
    if it came in time. A retried POST with the same ``Idempotency-Key`` returns the first."""
    limits.hit(limits.messages, str(actor.id))
    hub = _hub(request)
    message_id = hub.new_message_id()
    command = AddMessage(
        actor=actor,
        chat_id=chat_id,
        content=body.content,
        idempotency_key=idempotency_key,
        message_id=message_id,
    )
    if wait <= 0:
        raw = await rpc.call(command)
        message = MessagePublic.model_validate_json(raw)
        return _json(raw, 202, _location(message))
    # Watching before the message exists: its final state cannot slip by, so no read is needed.
    async with hub.watch(message_id) as watch:
        message = MessagePublic.model_validate_json(await rpc.call(command))
        final = await watch.final_within(wait) if message.id == message_id else None
        if message.id == message_id and final is None:  # finals are best effort: ask, to be sure
            final = await _current(rpc, actor, chat_id, message.id)
    if final is None:  # an earlier message, replayed for its Idempotency-Key
        final = await _wait_final(hub, rpc, actor, message, wait)
    status = 202 if final.status == MessageStatus.PENDING else 201
    return _json(final.model_dump_json().encode(), status, _location(final))


def _location(message: MessagePublic) -> str:
    return f"/api/chats/{message.chat_id}/messages/{message.id}"


@router.get("/{chat_id}/messages", response_model=Page[MessagePublic])
async def list_messages(
    chat_id: UUID, rpc: Rpc, actor: CurrentActor, limit: Limit = 20, cursor: Cursor = None
) -> Response:
    """The chat's messages, oldest first."""
    command = ListMessages(actor=actor, chat_id=chat_id, limit=limit, cursor=cursor)
    return await relay(rpc, command)


@router.get(MessagePath, response_model=MessagePublic)
async def get_message(chat_id: UUID, message_id: UUID, rpc: Rpc, actor: CurrentActor) -> Response:
    command = GetMessage(actor=actor, chat_id=chat_id, message_id=message_id)
    return await relay(rpc, command)


@router.api_route(MessagePath, methods=["PUT", "PATCH", "DELETE"], include_in_schema=False)
async def message_is_immutable() -> Response:
    return problem(405, "method_not_allowed", "messages are immutable", headers={"Allow": "GET"})


@router.post(f"{MessagePath}/retry", status_code=202, response_model=MessagePublic)
async def retry_message(chat_id: UUID, message_id: UUID, rpc: Rpc, actor: CurrentActor) -> Response:
    """Send a failed message back to the assistant (409 unless it failed)."""
    command = RetryMessage(actor=actor, chat_id=chat_id, message_id=message_id)
    return await relay(rpc, command, status=202)


@router.get(
    f"{MessagePath}/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_message(
    chat_id: UUID,
    message_id: UUID,
    request: Request,
    rpc: Rpc,
    actor: CurrentActor,
    last_event_id: Annotated[str | None, Header(max_length=100)] = None,
) -> StreamingResponse:
    """Server-sent events: the answer from its first word as ``token`` events (``{"delta",
    "offset"}``, each with an id), then one ``sealed`` or ``failed`` event with the whole
    message. Opened at any moment, the stream starts with what is written already; with
    ``Last-Event-ID`` it goes on after the last word the client had."""
    await _current(rpc, actor, chat_id, message_id)  # 404 before any byte is sent
    hub = _hub(request)
    limit = request.app.state.settings.stream_max_seconds
    resume = Resume.parse(last_event_id)

    async def refresh(watch: AnswerWatch) -> None:
        """Read the message again (a final state may have been lost) and ask for the words."""
        current = await _current(rpc, actor, chat_id, message_id)
        if current.status != MessageStatus.PENDING:
            watch.offer_final(current)
        else:
            hub.ask_for_snapshot(message_id)

    async def events() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        async with hub.watch(message_id, words=True, resume=resume) as watch:
            await refresh(watch)  # heard from now on: read what came before
            deadline, quiet_since = loop.time() + limit, loop.time()
            while True:
                watch.changed.clear()
                if watch.refresh_due:
                    watch.refresh_due = False
                    await refresh(watch)
                if frames := watch.take():
                    quiet_since = loop.time()
                    yield b"".join(frames)
                if watch.done:
                    return
                left = deadline - loop.time()
                if left <= 0:
                    return
                try:
                    async with asyncio.timeout(min(REFRESH_SECONDS, left)):
                        await watch.changed.wait()
                except TimeoutError:
                    watch.refresh_due = True  # nothing for a while: make sure nothing was lost
                    if loop.time() - quiet_since >= KEEPALIVE_SECONDS:
                        quiet_since = loop.time()
                        yield b": keep-alive\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
