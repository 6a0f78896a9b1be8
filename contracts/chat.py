"""Chats and messages: bodies of the REST API, the commands behind them, stream chunks."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, StringConstraints

from contracts.base import Command, Event, InputModel, WireModel
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


class CreateChat(Command):
    queue = "chat.create"

    actor: Actor
    data: ChatCreate


class GetChat(Command):
    queue = "chat.get"

    actor: Actor
    chat_id: UUID


class ListChats(Command, PageQuery):
    queue = "chat.list"

    actor: Actor
    user_id: UUID | None = None


class AddMessage(Command):
    queue = "chat.message.add"

    actor: Actor
    chat_id: UUID
    content: Content
    idempotency_key: IdempotencyKey | None = None
    message_id: UUID | None = None
    """The new message's id, when the caller picks it (the gateway does, see ``message_prefix``)."""


class GetMessage(Command):
    """A message, if the actor may see it; ``chat_id`` (when given) must be its chat."""

    queue = "chat.message.get"

    actor: Actor
    message_id: UUID
    chat_id: UUID | None = None


class GetMessageRef(Command):
    """Whose message is this? For services that file things on messages (tickets)."""

    queue = "chat.message.ref"

    actor: Actor
    message_id: UUID


class MessageRef(WireModel):
    message_id: UUID
    chat_id: UUID
    user_id: UUID
    status: MessageStatus


class ListMessages(Command, PageQuery):
    queue = "chat.message.list"

    actor: Actor
    chat_id: UUID


class SealMessage(Command):
    """The AI's answer; sealing is idempotent and only ever seals a pending message."""

    queue = "chat.message.seal"

    message_id: UUID
    ai_response: str
    references: list[Reference] = Field(default_factory=list)
    model: str


class FailMessage(Command):
    queue = "chat.message.fail"

    message_id: UUID
    error: str = Field(max_length=2000)


class RetryMessage(Command):
    queue = "chat.message.retry"

    actor: Actor
    chat_id: UUID
    message_id: UUID


class Turn(WireModel):
    """An earlier exchange of the chat, for the model's context."""

    user_input: str
    ai_response: str


class ChatCreated(ChatPublic, Event):
    """A customer opened a chat."""

    event_type = "support.chat.created"

    def event_subject(self) -> str:
        return str(self.id)


class MessageSealed(MessagePublic, Event):
    """A message got its answer and is now immutable."""

    event_type = "support.message.sealed"

    def event_subject(self) -> str:
        return str(self.id)


class MessageFailed(MessagePublic, Event):
    """No answer could be written; it can be retried."""

    event_type = "support.message.failed"

    def event_subject(self) -> str:
        return str(self.id)


class MessageCreated(Event):
    """A customer asked; the AI worker answers.

    All the worker needs, with no extra round trip: the message, its chat's owner, the chat's
    recent turns, and which emission of the message this is."""

    event_type = "support.message.created"

    message: MessagePublic
    user_id: UUID
    recent_turns: list[Turn] = Field(default_factory=list)
    attempt: int = 1

    def event_subject(self) -> str:
        return str(self.message.id)


class StreamChunk(WireModel):
    """A message's final state on ``ai.stream`` (``final_key``): ``sealed`` or ``failed`` with
    the whole message, answer included. (``token`` and ``reset`` are what earlier versions sent
    for words; words now travel as ``AnswerDeltas``.)"""

    type: Literal["token", "reset", "sealed", "failed"]
    delta: str | None = None
    message: MessagePublic | None = None


class AnswerDelta(WireModel):
    """Words of one answer: ``text`` at character ``offset`` of the answer written by
    ``attempt`` (a new attempt starts again from offset 0: what an earlier one wrote is void).
    A ``snapshot`` is everything the attempt has written so far, from offset 0."""

    message_id: UUID
    attempt: str
    offset: int = Field(ge=0)
    text: str
    snapshot: bool = False


class AnswerDeltas(WireModel):
    """What an AI worker sends a gateway on ``ai.stream``: the words of many answers written
    since its last batch, each in order, or a snapshot for a gateway that asked (``replay_key``).
    Losing a batch loses nothing: gateways see the gap in the offsets and ask for a snapshot,
    and the sealed message carries the whole answer."""

    deltas: list[AnswerDelta]


class ReplayRequest(WireModel):
    """A gateway asks the worker writing ``message_id`` for a snapshot, to its ``reply_to``."""

    message_id: UUID
