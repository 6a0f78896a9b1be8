"""Turning ``message.created`` into a sealed (or failed) message.

At least once delivery means the same event may come twice. Sealing is idempotent in the chat
service (only a pending message takes an answer), so a message never gets two answers; what a
duplicate could cost is a second, paid LLM call. The worker avoids it without a round trip on
the common path:

- a redelivery (the broker handed the event to a consumer that died or gave it back, maybe
  after answering) is checked first: the worker asks the chat service whether the message is
  still pending;
- a message this worker sealed lately (a relay that crashed after publishing, a replay) is
  recognised and skipped: it remembers the last ``remember`` it sealed. Sealed is final; a
  failed message may be retried, which announces it again, so failures are not remembered;
- anything else is a first delivery of a message not sealed here, and is answered.

What is left is a duplicate that is not a redelivery and reaches another replica (or this one
after a restart): it costs one LLM call whose seal then changes nothing.
"""

import logging
import time
import uuid
from typing import Protocol

from ai_worker.answerers import Answerer, AnswerFailed
from ai_worker.knowledge import Hit, KnowledgeBase, reference_snippet
from ai_worker.streaming import AnswerStreams
from contracts.base import Command
from contracts.chat import (
    FailMessage,
    GetMessage,
    MessageCreated,
    MessagePublic,
    Reference,
    SealMessage,
)
from contracts.enums import MessageStatus, Role
from contracts.events import CloudEvent
from contracts.rpc import Actor
from servicekit.consumer import Delivery
from servicekit.metrics import AI_ANSWERS, AI_TOKENS

log = logging.getLogger(__name__)


class Caller(Protocol):
    """What calls the chat service: the bus's ``RpcClient``, or an in-process one in tests."""

    async def call(self, command: Command, *, timeout: float | None = None) -> bytes: ...


WORKER = Actor(id=uuid.UUID(int=1), role=Role.ADMIN)
"""The identity the worker reads messages under (any message, no owner)."""


def to_reference(hit: Hit) -> Reference:
    return Reference(
        title=hit.passage.label, source=hit.passage.source, snippet=reference_snippet(hit.passage)
    )


class AnswerWorker:
    def __init__(
        self,
        *,
        knowledge: KnowledgeBase,
        answerer: Answerer,
        rpc: Caller,
        streams: AnswerStreams,
        top_k: int,
        remember: int = 10_000,
    ) -> None:
        self._knowledge, self._answerer, self._rpc = knowledge, answerer, rpc
        self._streams, self._top_k = streams, top_k
        self._answering: set[uuid.UUID] = set()
        self._sealed: dict[uuid.UUID, None] = {}
        """Messages sealed here, oldest first, at most ``remember``."""
        self._remember = remember

    async def handle(self, event: CloudEvent, delivery: Delivery) -> None:
        """Answer the message the event announces, unless it is answered or being answered."""
        created = MessageCreated.model_validate(event.data)
        message_id = created.message.id
        if message_id in self._sealed:
            log.info("message %s sealed here, event %s ignored", message_id, event.id)
            return
        if message_id in self._answering:
            log.info("message %s is being answered here, event %s ignored", message_id, event.id)
            return
        self._answering.add(message_id)
        try:
            if delivery.redelivered and not await self._still_pending(message_id):
                log.info("message %s already answered, event %s ignored", message_id, event.id)
                return
            if await self._answer(created):
                self._sealed[message_id] = None
                if len(self._sealed) > self._remember:
                    del self._sealed[next(iter(self._sealed))]
        finally:
            self._answering.discard(message_id)

    async def _answer(self, created: MessageCreated) -> bool:
        """Write the answer and seal the message (True), or mark it failed (False)."""
        message_id = created.message.id
        hits = self._knowledge.search(created.message.user_input, k=self._top_k)
        words = self._streams.open(message_id)
        started = time.perf_counter()
        try:
            answer = await self._answerer.answer(
                created.message.user_input,
                created.recent_turns,
                hits,
                on_delta=words.add,
                on_reset=words.reset,
            )
        except AnswerFailed as exc:
            await words.close(send=False)
            AI_ANSWERS.labels("-", "failed").observe(time.perf_counter() - started)
            log.warning("message %s failed: %s", message_id, exc)
            await self._rpc.call(FailMessage(message_id=message_id, error=str(exc)))
            return False
        except BaseException:
            await words.close(send=False)
            raise
        await words.close()
        AI_ANSWERS.labels(answer.model, "ok").observe(time.perf_counter() - started)
        AI_TOKENS.labels(answer.model, "prompt").inc(answer.prompt_tokens)
        AI_TOKENS.labels(answer.model, "completion").inc(answer.completion_tokens)
        seal = SealMessage(
            message_id=message_id,
            ai_response=answer.text,
            references=[to_reference(hit) for hit in hits],
            model=answer.model,
        )
        await self._rpc.call(seal)
        return True

    async def _still_pending(self, message_id: uuid.UUID) -> bool:
        raw = await self._rpc.call(GetMessage(actor=WORKER, message_id=message_id))
        return MessagePublic.model_validate_json(raw).status == MessageStatus.PENDING
