"""Chats and messages: bodies of the REST API, the commands behind them, stream chunks."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from contracts.base import InputModel, WireModel
from contracts.enums import MessageStatus
from contracts.rpc import Actor, PageQuery

MAX_CONTENT = 8000
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Content = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CONTENT)
]
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Reference(WireModel):
    """A knowledge-base passage an answer rests on."""

    title: str
    source: str
    snippet: str


class ChatCreate(InputModel):
    title: Title | None = None


class ChatPublic(WireModel):
    id: UUID
    user_id: UUID
    title: str
    created_at: datetime


class MessageCreate(InputModel):
    content: Content


class MessagePublic(WireModel):
    id: UUID
    chat_id: UUID
    user_input: str
    ai_response: str | None
    status: MessageStatus
    references: list[Reference]
    model: str | None
    error: str | None
    created_at: datetime
    sealed_at: datetime | None


class CreateChat(WireModel):
    actor: Actor
    data: ChatCreate


class GetChat(WireModel):
    actor: Actor
    chat_id: UUID


class ListChats(PageQuery):
    actor: Actor
    user_id: UUID | None = None


class AddMessage(WireModel):
    actor: Actor
    chat_id: UUID
    content: Content
    idempotency_key: IdempotencyKey | None = None
    message_id: UUID | None = None
    """The new message's id, when the caller picks it (the gateway does, see ``stream_key``)."""


class GetMessage(WireModel):
    """A message, if the actor may see it; ``chat_id`` (when given) must be its chat."""

    actor: Actor
    message_id: UUID
    chat_id: UUID | None = None


class GetMessageRef(WireModel):
    """Whose message is this? For services that file things on messages (tickets)."""

    actor: Actor
    message_id: UUID


class MessageRef(WireModel):
    message_id: UUID
    chat_id: UUID
    user_id: UUID
    status: MessageStatus


class ListMessages(PageQuery):
    actor: Actor
    chat_id: UUID


class SealMessage(WireModel):
    """The AI's answer; sealing is idempotent and only ever seals a pending message."""

    message_id: UUID
    ai_response: str
    references: list[Reference] = Field(default_factory=list)
    model: str


class FailMessage(WireModel):
    message_id: UUID
    error: str = Field(max_length=2000)


class RetryMessage(WireModel):
    actor: Actor
    chat_id: UUID
    message_id: UUID


class Turn(WireModel):
    """An earlier exchange of the chat, for the model's context."""

    user_input: str
    ai_response: str


class MessageCreated(WireModel):
    """Data of ``support.message.created``: all the AI worker needs, no extra round trip."""

    message: MessagePublic
    user_id: UUID
    recent_turns: list[Turn] = Field(default_factory=list)
    attempt: int = 1


class StreamChunk(WireModel):
    """What flows on ``ai.stream``: ``token`` deltas while the answer is written, ``reset``
    when a failed attempt's partial text is void, then ``sealed`` or ``failed`` with the
    whole message. Losing one loses nothing: the sealed message is the truth."""

    type: Literal["token", "reset", "sealed", "failed"]
    delta: str | None = None
    message: MessagePublic | None = None
