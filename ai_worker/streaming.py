"""The words of the answers this worker is writing, on their way to the gateways.

Every answer in progress is kept whole here while it is written (a gateway that starts
following it late asks for a snapshot: ``replay``), and its new words are sent in batches: at
most one AMQP message per gateway prefix (``token_key``) every ``interval`` seconds, carrying
the words of all the answers that gateway's clients posted. A model writes tens of tokens a
second for each of hundreds of answers at once: one message per token would cost the broker and
the gateways more than everything else on the way. The first words of an answer leave at once
(the time to the first word is what a customer notices); an answer written whole before any of
its words left (an offline answer, a cache) sends none: its sealed message carries it.
"""

import asyncio
import logging
import secrets
import uuid
from collections import defaultdict

from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel
from pydantic import ValidationError

from contracts.chat import AnswerDelta, AnswerDeltas, ReplayRequest
from contracts.names import AI_STREAM_EXCHANGE, message_prefix, token_key
from servicekit.bus import NOT_PERSISTENT, Properties, Publisher

log = logging.getLogger(__name__)


class Answer:
    """One answer being written: its text so far, what of it has left, its attempt."""

    __slots__ = (
        "_streams",
        "attempt",
        "length",
        "message_id",
        "parts",
        "sent",
        "sent_parts",
        "started",
    )

    def __init__(self, streams: "AnswerStreams", message_id: uuid.UUID) -> None:
        self._streams = streams
        self.message_id = message_id
        self.attempt = secrets.token_hex(4)
        self.parts: list[str] = []
        self.length = 0
        self.sent = 0
        """Characters already handed to a batch (the first ``sent_parts`` parts)."""
        self.sent_parts = 0
        self.started = False
        """Whether any of its words left (watchers have begun to show it)."""

    @property
    def text(self) -> str:
        return "".join(self.parts)

    async def add(self, delta: str) -> None:
        """Words the model wrote."""
        if delta:
            self.parts.append(delta)
            self.length += len(delta)
            self._streams.written(self)

    async def reset(self) -> None:
        """The attempt so far is void: start again from nothing, under a new attempt (if some
        of its words left, watchers hear it at once, by an empty delta of the new attempt)."""
        self.attempt = secrets.token_hex(4)
        self.parts, self.length, self.sent, self.sent_parts = [], 0, 0, 0
        if self.started:
            self._streams.restarted(self)

    def unsent(self) -> str:
        """The words not handed to a batch yet, now marked as handed."""
        text = "".join(self.parts[self.sent_parts :])
        self.sent, self.sent_parts = self.length, len(self.parts)
        return text

    async def close(self, *, send: bool = True) -> None:
        """The answer is written: its words not sent yet go with the next batch if some of its
        words left already, else they are dropped (its final state carries the text); an answer
        that failed sends none (``send=False``: the failed state is its last word)."""
        self._streams.closed(self, send=send)


class AnswerStreams:
    """The answers of one worker process and the batches of their words."""

    def __init__(self, words: Publisher, *, interval: float) -> None:
        """``words``: the ``ai.stream`` exchange."""
        self._words, self._interval = words, interval
        self._answers: dict[uuid.UUID, Answer] = {}
        self._due: dict[uuid.UUID, Answer] = {}
        """Answers with words not sent yet (or a reset to announce), by message id."""
        self._restarts: set[uuid.UUID] = set()
        self._flush: asyncio.TimerHandle | asyncio.Handle | None = None
        self._flush_now = False
        """Whether ``_flush`` runs at once (else at the end of the interval)."""
        self._last_flush = 0.0
        self._flushing: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._answers)

    def open(self, message_id: uuid.UUID) -> Answer:
        answer = Answer(self, message_id)
        self._answers[message_id] = answer
        return answer

    def snapshot(self, message_id: uuid.UUID) -> AnswerDelta | None:
        """Everything written so far of an answer being written here; None if none is."""
        answer = self._answers.get(message_id)
        if answer is None:
            return None
        return AnswerDelta(
            message_id=message_id, attempt=answer.attempt, offset=0, text=answer.text, snapshot=True
        )

    def written(self, answer: Answer) -> None:
        self._due[answer.message_id] = answer
        self._schedule(now=not answer.started)

    def restarted(self, answer: Answer) -> None:
        self._restarts.add(answer.message_id)
        self._due[answer.message_id] = answer
        self._schedule(now=True)

    def closed(self, answer: Answer, *, send: bool) -> None:
        self._answers.pop(answer.message_id, None)
        if not (answer.started and send):
            self._due.pop(answer.message_id, None)
            self._restarts.discard(answer.message_id)
        elif answer.message_id in self._due:
            self._schedule(now=True)  # the last words, before the final state overtakes them

    def _schedule(self, *, now: bool) -> None:
        loop = asyncio.get_running_loop()
        if now:
            # (Not ``isinstance(self._flush, asyncio.TimerHandle)``: uvloop's handles are its own.)
            if not self._flush_now:
                if self._flush is not None:
                    self._flush.cancel()
                self._flush, self._flush_now = loop.call_soon(self._start_flush), True
        elif self._flush is None:
            self._flush = loop.call_at(
                max(self._last_flush + self._interval, loop.time()), self._start_flush
            )

    def _start_flush(self) -> None:
        self._flush, self._flush_now = None, False
        self._last_flush = asyncio.get_running_loop().time()
        batches = self._take()
        if batches:
            task = asyncio.create_task(self._send(batches))
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    def _take(self) -> dict[str, list[AnswerDelta]]:
        """The deltas due, by the gateway prefix of their message."""
        batches: dict[str, list[AnswerDelta]] = defaultdict(list)
        for message_id, answer in self._due.items():
            restarted = message_id in self._restarts
            if answer.sent == answer.length and not restarted:
                continue
            offset = answer.sent
            batches[message_prefix(message_id)].append(
                AnswerDelta(
                    message_id=message_id,
                    attempt=answer.attempt,
                    offset=offset,
                    text=answer.unsent(),
                )
            )
            answer.started = True
        self._due.clear()
        self._restarts.clear()
        return batches

    async def _send(self, batches: dict[str, list[AnswerDelta]]) -> None:
        for prefix, deltas in batches.items():
            body = AnswerDeltas(deltas=deltas).model_dump_json().encode()
            try:
                await self._words.publish(
                    body,
                    routing_key=token_key(prefix),
                    properties=Properties(delivery_mode=NOT_PERSISTENT),
                )
            except Exception as exc:  # lost words are asked for again; the sealed text is whole
                log.debug("words for %s not published: %s", prefix, exc)

    async def close(self) -> None:
        """Send what is due and wait for batches on their way."""
        if self._flush is not None:
            self._flush.cancel()
            self._start_flush()
        if self._flushing:
            await asyncio.gather(*self._flushing, return_exceptions=True)


async def serve_replays(channel: AbstractRobustChannel, streams: AnswerStreams) -> None:
    """Answer gateways' requests for what is written so far (``replay_key``): every worker
    hears every request on a queue of its own, and the one writing that answer replies."""
    replies = Publisher(channel)
    queue = await channel.declare_queue(
        f"ai.replays.{secrets.token_hex(6)}", exclusive=True, auto_delete=True
    )
    await queue.bind(AI_STREAM_EXCHANGE, routing_key="replay.#")

    async def on_request(message: AbstractIncomingMessage) -> None:
        try:
            request = ReplayRequest.model_validate_json(message.body)
        except ValidationError:
            log.warning("malformed replay request dropped")
            return
        snapshot = streams.snapshot(request.message_id)
        if snapshot is None or not message.reply_to:
            return  # another worker writes it, or nobody does yet (its words will all come)
        body = AnswerDeltas(deltas=[snapshot]).model_dump_json().encode()
        try:
            await replies.publish(
                body,
                routing_key=message.reply_to,
                properties=Properties(delivery_mode=NOT_PERSISTENT),
            )
        except Exception as exc:
            log.debug("snapshot of %s not sent: %s", request.message_id, exc)

    await queue.consume(on_request, no_ack=True)
