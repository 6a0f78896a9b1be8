"""When the AI worker asks before answering, and when it skips an event: the rule that keeps a
duplicate ``message.created`` from costing a second LLM call. The worker's collaborators are
in-memory fakes here; the integration and fault suites run the real ones."""

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ai_worker.answerers import Answer, AnswerFailed, OnDelta, OnReset
from ai_worker.knowledge import Hit, KnowledgeBase, Passage
from ai_worker.streaming import AnswerStreams
from ai_worker.worker import AnswerWorker
from contracts.base import Command
from contracts.chat import FailMessage, GetMessage, MessageCreated, MessagePublic, SealMessage, Turn
from contracts.enums import MessageStatus
from contracts.events import CloudEvent
from servicekit.consumer import Delivery


class Chat:
    """The chat service's side of the RPC: records commands, answers ``chat.message.get``."""

    def __init__(self, status: MessageStatus) -> None:
        self.status, self.calls = status, []  # type: ignore[var-annotated]

    async def call(self, command: Command, *, timeout: float | None = None) -> bytes:
        self.calls.append(command.queue)
        if isinstance(command, GetMessage):
            return _message(self.status).model_dump_json().encode()
        return b""


class Model:
    def __init__(self, fail: int = 0) -> None:
        self.questions: list[str] = []
        self.fail = fail
        """How many of the first questions fail."""

    async def answer(
        self,
        question: str,
        turns: Sequence[Turn],
        hits: Sequence[Hit],
        *,
        on_delta: OnDelta,
        on_reset: OnReset,
    ) -> Answer:
        self.questions.append(question)
        if len(self.questions) <= self.fail:
            raise AnswerFailed("the model is down")
        await on_delta("an answer")
        return Answer(text="an answer", model="fake")


class Stream:
    async def publish(self, *_: Any, **__: Any) -> None:
        return None


MESSAGE_ID = uuid.uuid4()


def _message(
    status: MessageStatus = MessageStatus.PENDING, message_id: uuid.UUID = MESSAGE_ID
) -> MessagePublic:
    return MessagePublic(
        id=message_id,
        chat_id=uuid.uuid4(),
        user_input="How do I export?",
        ai_response=None,
        status=status,
        references=[],
        model=None,
        error=None,
        created_at=datetime.now(UTC),
        sealed_at=None,
    )


def _event(message_id: uuid.UUID = MESSAGE_ID) -> CloudEvent:
    created = MessageCreated(message=_message(message_id=message_id), user_id=uuid.uuid4())
    return CloudEvent(
        id=uuid.uuid4(),
        source="/test",
        type="support.message.created",
        time=datetime.now(UTC),
        data=created.model_dump(mode="json"),
    )


def _worker(chat: Chat, model: Model, remember: int = 10) -> AnswerWorker:
    knowledge = KnowledgeBase(
        [Passage(title="Export", section="", source="export.md", text="Export as CSV.")]
    )
    return AnswerWorker(
        knowledge=knowledge,
        answerer=model,
        rpc=chat,
        streams=AnswerStreams(Stream(), interval=0.0),  # type: ignore[arg-type]
        top_k=1,
        remember=remember,
    )


FIRST, AGAIN = Delivery(redelivered=False), Delivery(redelivered=True)


def test_a_first_delivery_is_answered_without_asking_first() -> None:
    chat, model = Chat(MessageStatus.PENDING), Model()
    asyncio.run(_worker(chat, model).handle(_event(), FIRST))
    assert model.questions == ["How do I export?"]
    assert chat.calls == [SealMessage.queue]


def test_a_redelivery_asks_and_skips_a_message_answered_meanwhile() -> None:
    chat, model = Chat(MessageStatus.SEALED), Model()
    asyncio.run(_worker(chat, model).handle(_event(), AGAIN))
    assert model.questions == []
    assert chat.calls == [GetMessage.queue]


def test_a_redelivery_of_a_message_still_pending_is_answered() -> None:
    chat, model = Chat(MessageStatus.PENDING), Model()
    asyncio.run(_worker(chat, model).handle(_event(), AGAIN))
    assert model.questions == ["How do I export?"]
    assert chat.calls == [GetMessage.queue, SealMessage.queue]


def test_a_message_sealed_here_is_not_answered_again() -> None:
    chat, model = Chat(MessageStatus.PENDING), Model()
    worker = _worker(chat, model)

    async def go() -> None:
        await worker.handle(_event(), FIRST)
        await worker.handle(_event(), FIRST)  # published again, with a new id: a replay

    asyncio.run(go())
    assert len(model.questions) == 1
    assert chat.calls == [SealMessage.queue]


def test_a_failed_message_retried_is_answered_again() -> None:
    chat, model = Chat(MessageStatus.PENDING), Model(fail=1)
    worker = _worker(chat, model)

    async def go() -> None:
        await worker.handle(_event(), FIRST)
        await worker.handle(_event(), FIRST)  # the customer asked for a retry

    asyncio.run(go())
    assert len(model.questions) == 2
    assert chat.calls == [FailMessage.queue, SealMessage.queue]


def test_the_memory_of_sealed_messages_is_bounded() -> None:
    chat, model = Chat(MessageStatus.PENDING), Model()
    worker = _worker(chat, model, remember=2)
    events = [_event(uuid.uuid4()) for _ in range(3)]

    async def go() -> None:
        for event in events:
            await worker.handle(event, FIRST)
        await worker.handle(events[0], FIRST)  # forgotten: answered again
        await worker.handle(events[2], FIRST)  # remembered: skipped

    asyncio.run(go())
    assert len(model.questions) == 4
