"""Answer chunks are batched: at most one per interval from the answer's start, none for an
answer written whole within the first, and the chunks always add up to the text written, in
order."""

import asyncio

import pytest

from ai_worker.chunks import Coalescer
from contracts.chat import StreamChunk


class Sent:
    def __init__(self) -> None:
        self.chunks: list[StreamChunk] = []

    async def __call__(self, chunk: StreamChunk) -> None:
        self.chunks.append(chunk)

    @property
    def text(self) -> str:
        return "".join(c.delta or "" for c in self.chunks if c.type == "token")


async def test_an_answer_written_within_the_first_interval_sends_no_chunk() -> None:
    sent = Sent()
    chunks = Coalescer(sent, interval=0.05)
    for i in range(50):
        await chunks.add(f"word{i} ")
    await chunks.close()
    assert sent.chunks == []  # the sealed message carries the whole answer


async def test_a_burst_after_the_first_interval_goes_out_as_one_chunk() -> None:
    sent = Sent()
    chunks = Coalescer(sent, interval=0.05)
    await asyncio.sleep(0.06)  # the model is thinking
    words = [f"word{i} " for i in range(50)]
    for word in words:
        await chunks.add(word)
    await chunks.close()
    assert [c.delta for c in sent.chunks] == [words[0], "".join(words[1:])]
    assert sent.text == "".join(words)


async def test_text_held_back_goes_out_after_the_interval_without_a_new_delta() -> None:
    sent = Sent()
    chunks = Coalescer(sent, interval=0.05)
    await chunks.add("Hello")
    await chunks.add(", world")
    assert sent.text == ""
    await asyncio.sleep(0.12)
    assert sent.text == "Hello, world"
    await chunks.close()
    assert len(sent.chunks) == 1


async def test_slow_deltas_each_go_out_at_once() -> None:
    sent = Sent()
    chunks = Coalescer(sent, interval=0.01)
    for word in ("a", "b", "c"):
        await chunks.add(word)
        await asyncio.sleep(0.02)
        assert sent.text.endswith(word)
    await chunks.close()
    assert [c.delta for c in sent.chunks] == ["a", "b", "c"]


async def test_a_reset_drops_unsent_text_of_the_void_attempt() -> None:
    sent = Sent()
    chunks = Coalescer(sent, interval=0.2)
    await chunks.add("first try ")
    await asyncio.sleep(0.25)  # "first try " went out; the next chunk is due 0.2 s after it
    await chunks.add("cut off")
    await chunks.reset()
    await chunks.add("second try")
    await chunks.close()
    assert [(c.type, c.delta) for c in sent.chunks] == [
        ("token", "first try "),
        ("reset", None),
        ("token", "second try"),
    ]


async def test_a_reset_before_any_chunk_tells_nobody() -> None:
    sent = Sent()
    chunks = Coalescer(sent, interval=0.05)
    await chunks.add("cut off")
    await chunks.reset()
    await chunks.add("second try")
    await asyncio.sleep(0.07)
    await chunks.close()
    assert [(c.type, c.delta) for c in sent.chunks] == [("token", "second try")]


@pytest.mark.parametrize("send", [True, False])
async def test_closing_sends_or_drops_the_rest(send: bool) -> None:
    sent = Sent()
    chunks = Coalescer(sent, interval=0.2)
    await chunks.add("a")
    await asyncio.sleep(0.25)  # "a" went out
    await chunks.add("b")  # held back until 0.2 s after "a"
    await chunks.close(send=send)
    await asyncio.sleep(0)
    assert sent.text == ("ab" if send else "a")
