"""Turning ``message.created`` into a sealed (or failed) message.

At least once delivery means the same event may come twice (a redelivery, the sweeper, a relay
that crashed after publishing): the worker first asks the chat service whether the message is
still pending, and sealing is idempotent there too, so a message never gets two answers.
"""

import logging
import time
import uuid

import aio_pika
from aio_pika.abc import AbstractExchange

from ai_worker.answerers import Answerer, AnswerFailed
from ai_worker.chunks import Coalescer
from ai_worker.knowledge import Hit, KnowledgeBase, reference_snippet
from contracts.chat import (
    FailMessage,
    GetMessage,
    MessageCreated,
    MessagePublic,
    Reference,
    SealMessage,
    StreamChunk,
)
from contracts.enums import MessageStatus, Role
from contracts.events import CloudEvent
from contracts.names import Commands, stream_key
from contracts.rpc import Actor
from servicekit.metrics import AI_ANSWERS, AI_TOKENS
from servicekit.rpc_client import RpcClient

log = logging.getLogger(__name__)
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
        rpc: RpcClient,
        stream: AbstractExchange,
        top_k: int,
        stream_interval: float,
    ) -> None:
        self._knowledge, self._answerer, self._rpc = knowledge, answerer, rpc
        self._stream, self._top_k, self._stream_interval = stream, top_k, stream_interval
        self._answering: set[uuid.UUID] = set()

    async def handle(self, event: CloudEvent) -> None:
        """Answer the message the event announces, unless it is answered or being answered."""
        created = MessageCreated.model_validate(event.data)
        message_id = created.message.id
        if message_id in self._answering:
            log.info("message %s is being answered here, event %s ignored", message_id, event.id)
            return
        self._answering.add(message_id)
        try:
            await self._answer(created, event.id)
        finally:
            self._answering.discard(message_id)

    async def _answer(self, created: MessageCreated, event_id: uuid.UUID) -> None:
        message_id = created.message.id
        if not await self._still_pending(message_id):
            log.info("message %s already answered, event %s ignored", message_id, event_id)
            return
        hits = self._knowledge.search(created.message.user_input, k=self._top_k)

        async def publish(chunk: StreamChunk) -> None:
            await self._publish(message_id, chunk)

        chunks = Coalescer(publish, interval=self._stream_interval)
        started = time.perf_counter()
        try:
            answer = await self._answerer.answer(
                created.message.user_input,
                created.recent_turns,
                hits,
                on_delta=chunks.add,
                on_reset=chunks.reset,
            )
        except AnswerFailed as exc:
            await chunks.close(send=False)  # the failed state is the last word, not a late token
            AI_ANSWERS.labels("-", "failed").observe(time.perf_counter() - started)
            log.warning("message %s failed: %s", message_id, exc)
            await self._rpc.call(
                Commands.MESSAGE_FAIL, FailMessage(message_id=message_id, error=str(exc))
            )
            return
        await chunks.close()
        AI_ANSWERS.labels(answer.model, "ok").observe(time.perf_counter() - started)
        AI_TOKENS.labels(answer.model, "prompt").inc(answer.prompt_tokens)
        AI_TOKENS.labels(answer.model, "completion").inc(answer.completion_tokens)
        seal = SealMessage(
            message_id=message_id,
            ai_response=answer.text,
            references=[to_reference(hit) for hit in hits],
            model=answer.model,
        )
        await self._rpc.call(Commands.MESSAGE_SEAL, seal)

    async def _still_pending(self, message_id: uuid.UUID) -> bool:
        raw = await self._rpc.call(
            Commands.MESSAGE_GET, GetMessage(actor=WORKER, message_id=message_id)
        )
        return MessagePublic.model_validate_json(raw).status == MessageStatus.PENDING

    async def _publish(self, message_id: uuid.UUID, chunk: StreamChunk) -> None:
        try:
            await self._stream.publish(
                aio_pika.Message(chunk.model_dump_json(exclude_none=True).encode()),
                routing_key=stream_key(message_id),
                mandatory=False,
            )
        except Exception as exc:  # a lost chunk loses nothing: the sealed message is the truth
            log.debug("chunk of %s not published: %s", message_id, exc)
