"""The words of the answers a worker writes leave in batches, one per gateway prefix: the first
words of an answer at once, later ones at most every interval, always at the offsets that follow
what left before; an answer written whole before any of its words left sends none."""

import asyncio
import uuid
from typing import Any

import pytest
import uvloop

from ai_worker.streaming import AnswerStreams
from contracts.chat import AnswerDelta, AnswerDeltas


class Exchange:
    """Stands in for the ``ai.stream`` publisher: what was published, by routing key."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, AnswerDeltas]] = []

    async def publish(self, body: bytes, *, routing_key: str, **_: Any) -> None:
        self.sent.append((routing_key, AnswerDeltas.model_validate_json(body)))

    def deltas(self, message_id: uuid.UUID) -> list[AnswerDelta]:
        return [d for _, batch in self.sent for d in batch.deltas if d.message_id == message_id]

    def text(self, message_id: uuid.UUID) -> str:
        text = ""
        for d in self.deltas(message_id):
            assert d.offset == len(text), "each delta follows the one before"
            text += d.text
        return text


@pytest.fixture
def exchange() -> Exchange:
    return Exchange()


def message(prefix: str = "aaaaaaaa") -> uuid.UUID:
    return uuid.UUID(prefix + uuid.uuid4().hex[8:])


async def test_an_answer_written_whole_before_its_words_left_sends_none(
    exchange: Exchange,
) -> None:
    streams = AnswerStreams(exchange, interval=0.05)  # type: ignore[arg-type]
    answer = streams.open(message())
    for i in range(50):
        await answer.add(f"word{i} ")
    await answer.close()
    await asyncio.sleep(0.08)
    await streams.close()
    assert exchange.sent == []


async def test_first_words_leave_at_once_then_at_most_every_interval(exchange: Exchange) -> None:
    streams = AnswerStreams(exchange, interval=0.05)  # type: ignore[arg-type]
    message_id = message()
    answer = streams.open(message_id)
    await answer.add("Hello")
    await asyncio.sleep(0.005)
    assert exchange.text(message_id) == "Hello"
    for i in range(10):
        await answer.add(f" w{i}")
        await asyncio.sleep(0.004)
    assert len(exchange.sent) <= 2, "words written within an interval leave together"
    await answer.close()
    await asyncio.sleep(0.01)
    assert exchange.text(message_id) == "Hello" + "".join(f" w{i}" for i in range(10))
    await streams.close()


async def test_one_batch_per_gateway_prefix_carries_many_answers(exchange: Exchange) -> None:
    streams = AnswerStreams(exchange, interval=0.05)  # type: ignore[arg-type]
    ours = [message("aaaaaaaa") for _ in range(5)]
    theirs = message("bbbbbbbb")
    answers = [streams.open(m) for m in [*ours, theirs]]
    for answer in answers:
        await answer.add("first ")
    await asyncio.sleep(0.005)
    for answer in answers:
        await answer.add("second ")
    await asyncio.sleep(0.08)
    keys = [key for key, _ in exchange.sent]
    assert set(keys) == {"token.aaaaaaaa", "token.bbbbbbbb"}
    assert len(keys) <= 4, "one message per prefix per batch, not one per answer"
    assert all(exchange.text(m) == "first second " for m in [*ours, theirs])
    await streams.close()


async def test_a_reset_after_words_left_starts_a_new_attempt_from_nothing(
    exchange: Exchange,
) -> None:
    streams = AnswerStreams(exchange, interval=0.02)  # type: ignore[arg-type]
    message_id = message()
    answer = streams.open(message_id)
    await answer.add("half an ans")
    await asyncio.sleep(0.005)
    await answer.reset()
    await asyncio.sleep(0.005)
    await answer.add("a whole answer")
    await answer.close()
    await asyncio.sleep(0.03)
    first, *rest = exchange.deltas(message_id)
    assert rest[0].attempt != first.attempt
    assert (rest[0].offset, rest[0].text) == (0, "")
    assert "".join(d.text for d in rest) == "a whole answer"
    await streams.close()


async def test_a_failed_answer_sends_nothing_more(exchange: Exchange) -> None:
    streams = AnswerStreams(exchange, interval=0.05)  # type: ignore[arg-type]
    message_id = message()
    answer = streams.open(message_id)
    await answer.add("some ")
    await asyncio.sleep(0.005)
    await answer.add("more")
    await answer.close(send=False)
    await asyncio.sleep(0.08)
    assert exchange.text(message_id) == "some "
    await streams.close()


async def test_a_snapshot_is_everything_written_so_far(exchange: Exchange) -> None:
    streams = AnswerStreams(exchange, interval=0.05)  # type: ignore[arg-type]
    message_id = message()
    answer = streams.open(message_id)
    await answer.add("The quick ")
    await answer.add("brown fox")
    snapshot = streams.snapshot(message_id)
    assert snapshot is not None
    assert (snapshot.offset, snapshot.text, snapshot.snapshot) == (0, "The quick brown fox", True)
    await answer.close()
    assert streams.snapshot(message_id) is None
    assert streams.snapshot(uuid.uuid4()) is None
    await streams.close()


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_a_new_answers_first_words_do_not_wait_for_others_batch(run: Any) -> None:
    async def scenario() -> tuple[str, str]:
        exchange = Exchange()
        streams = AnswerStreams(exchange, interval=0.5)  # type: ignore[arg-type]
        first, second = message(), message()
        going = streams.open(first)
        await going.add("early ")
        await asyncio.sleep(0.01)
        await going.add("later")  # waits for the interval's end
        await streams.open(second).add("at once")
        await asyncio.sleep(0.05)
        texts = exchange.text(first), exchange.text(second)
        await streams.close()
        return texts

    first, second = run(scenario())
    assert second == "at once"
    assert first.startswith("early ")  # the words due leave with them
