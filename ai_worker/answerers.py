"""Writing the answer: through any OpenAI-compatible endpoint, or offline from the passages.

Both stream the text as it is written (``on_delta``) and return it whole. The LLM is tried a
bounded number of times with exponential backoff on 429, 5xx, timeouts and dropped streams;
then ``AnswerFailed`` carries the reason.
"""

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import httpx2  # the HTTP client the openai SDK is built on
import openai
import orjson
from openai.types.chat import ChatCompletionMessageParam

from ai_worker.knowledge import Hit, compose_offline_answer
from ai_worker.prompt import build_messages
from contracts.chat import Turn

log = logging.getLogger(__name__)
OnDelta = Callable[[str], Awaitable[None]]
OnReset = Callable[[], Awaitable[None]]
OFFLINE_MODEL = "offline-bm25"
T = TypeVar("T")


class StreamCut(Exception):
    """The stream ended without a finish reason: the answer is incomplete."""


RETRYABLE = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APIConnectionError,
    StreamCut,
    TimeoutError,
)


class AnswerFailed(Exception):
    """No answer could be written; the message is to be marked failed with this reason."""


@dataclass(frozen=True)
class Answer:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Answerer(Protocol):
    async def answer(
        self,
        question: str,
        turns: Sequence[Turn],
        hits: Sequence[Hit],
        *,
        on_delta: OnDelta,
        on_reset: OnReset,
    ) -> Answer: ...


class OfflineAnswerer:
    """No LLM configured: quote the best passages, with their references."""

    async def answer(
        self,
        question: str,
        turns: Sequence[Turn],
        hits: Sequence[Hit],
        *,
        on_delta: OnDelta,
        on_reset: OnReset,
    ) -> Answer:
        text = compose_offline_answer(question, hits)
        words = text.split(" ")
        for start in range(0, len(words), 8):
            await on_delta(
                " ".join(words[start : start + 8]) + (" " if start + 8 < len(words) else "")
            )
        return Answer(text=text, model=OFFLINE_MODEL)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    base_delay: float
    timeout: float

    def delay(self, attempt: int, error: Exception) -> float:
        """Exponential backoff with jitter; a server's Retry-After wins when it says more."""
        backoff = self.base_delay * 2.0 ** (attempt - 1) * random.uniform(0.8, 1.2)  # noqa: S311
        response = getattr(error, "response", None)
        hinted = str(response.headers.get("retry-after", "")) if response is not None else ""
        if hinted.replace(".", "", 1).isdigit():
            return min(max(backoff, float(hinted)), 30.0)
        return backoff


class OpenAIAnswerer:
    """Chat completions, streamed, through the ``openai`` SDK (any compatible endpoint)."""

    def __init__(
        self, client: openai.AsyncOpenAI, *, model: str, temperature: float, retry: RetryPolicy
    ):
        self._client, self._model, self._temperature, self._retry = (
            client,
            model,
            temperature,
            retry,
        )

    async def answer(
        self,
        question: str,
        turns: Sequence[Turn],
        hits: Sequence[Hit],
        *,
        on_delta: OnDelta,
        on_reset: OnReset,
    ) -> Answer:
        messages = build_messages(question, turns, hits)
        for attempt in range(1, self._retry.attempts + 1):
            written: list[str] = []
            try:
                async with asyncio.timeout(self._retry.timeout):
                    return await self._attempt(messages, written, on_delta)
            except RETRYABLE as exc:
                reason = _describe(exc)
                if written:
                    await on_reset()
                if attempt == self._retry.attempts:
                    raise AnswerFailed(
                        f"the AI model failed {attempt} times; last: {reason}"
                    ) from exc
                delay = self._retry.delay(attempt, exc)
                log.warning("LLM attempt %d failed (%s), retrying in %.2fs", attempt, reason, delay)
                await asyncio.sleep(delay)
            except openai.APIStatusError as exc:
                raise AnswerFailed(f"the AI model refused the request: {_describe(exc)}") from exc
        raise AssertionError("unreachable")

    async def _attempt(
        self, messages: list[ChatCompletionMessageParam], written: list[str], on_delta: OnDelta
    ) -> Answer:
        """One streamed completion, its server-sent events read as bytes and parsed with orjson.

        Through ``client.post``, the SDK's way to a request it has no method for: the SDK makes
        the request (base URL, key, timeout) and raises its errors for a refusal or a connection
        that fails. What it skips is its typing: walking the messages through their type hints
        on the way out, and a typed chunk for every token on the way back, which together cost
        more than the rest of the worker's work on an answer. Its stream object is not iterated:
        its response's bytes are read as they come. A broken stream is a ``StreamCut``, an error
        event in it too; of each chunk we read the four fields we use."""
        model, finished = self._model, False
        usage: dict[str, Any] = {}
        try:
            stream = await self._client.post(
                "/chat/completions",
                cast_to=object,
                body={
                    "model": self._model,
                    "messages": messages,
                    "temperature": self._temperature,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                },
                options={"timeout": self._retry.timeout, "security": {"bearer_auth": True}},
                stream=True,
                stream_cls=openai.AsyncStream[Any],
            )
            async with contextlib.aclosing(stream.response) as response:
                async for data in _sse_data(response.aiter_bytes()):
                    if data == b"[DONE]":
                        break
                    chunk = _of(dict, orjson.loads(data), {})
                    if "error" in chunk:
                        raise StreamCut(f"the model reported an error: {chunk['error']!r:.200}")
                    model = _of(str, chunk.get("model"), "") or model
                    usage = _of(dict, chunk.get("usage"), {}) or usage
                    for listed in _of(list, chunk.get("choices"), []):
                        choice = _of(dict, listed, {})
                        content = _of(str, _of(dict, choice.get("delta"), {}).get("content"), "")
                        if content:
                            written.append(content)
                            await on_delta(content)
                        finished = finished or choice.get("finish_reason") is not None
        except (httpx2.TransportError, orjson.JSONDecodeError) as exc:
            raise StreamCut(f"the stream broke: {type(exc).__name__}") from exc
        if not finished:
            raise StreamCut("the stream ended before the answer did")
        return Answer(
            text="".join(written),
            model=model,
            prompt_tokens=_of(int, usage.get("prompt_tokens"), 0),
            completion_tokens=_of(int, usage.get("completion_tokens"), 0),
        )


async def _sse_data(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The ``data`` of each server-sent event in a byte stream (events of one ``data:`` line,
    as the chat-completions protocol sends them; other fields are skipped)."""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.startswith(b"data:"):
                yield line[5:].strip()
    if pending.startswith(b"data:"):
        yield pending[5:].strip()


def _of(kind: type[T], value: object, absent: T) -> T:
    """``value`` if it is a ``kind``, else ``absent``: a field of an unexpected shape in a
    chunk reads as missing, as the SDK's own lenient chunks read it."""
    return value if isinstance(value, kind) else absent


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIConnectionError | StreamCut):
        return "connection lost"
    return type(exc).__name__
