"""Writing the answer: through any OpenAI-compatible endpoint, or offline from the passages.

Both stream the text as it is written (``on_delta``) and return it whole. The LLM is tried a
bounded number of times with exponential backoff on 429, 5xx, timeouts and dropped streams;
then ``AnswerFailed`` carries the reason.
"""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import openai
from openai.types.chat import ChatCompletionMessageParam

from ai_worker.knowledge import Hit, compose_offline_answer
from ai_worker.prompt import build_messages
from contracts.chat import Turn

log = logging.getLogger(__name__)
OnDelta = Callable[[str], Awaitable[None]]
OnReset = Callable[[], Awaitable[None]]
OFFLINE_MODEL = "offline-bm25"


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
        stream = await self._client.chat.completions.create(
            model=self._model,
            # The messages go in the body as they are: the SDK's parameter transform walks each
            # one through its type hints, a third of the worker's CPU per answer, and turns
            # plain text messages into themselves. (``extra_body`` takes precedence.)
            messages=[],
            extra_body={"messages": messages},
            temperature=self._temperature,
            stream=True,
            stream_options={"include_usage": True},
            timeout=self._retry.timeout,
        )
        model, finished, usage = self._model, False, None
        async for chunk in stream:
            model = chunk.model or model
            usage = chunk.usage or usage
            for choice in chunk.choices:
                if choice.delta.content:
                    written.append(choice.delta.content)
                    await on_delta(choice.delta.content)
                finished = finished or choice.finish_reason is not None
        if not finished:
            raise StreamCut("the stream ended before the answer did")
        return Answer(
            text="".join(written),
            model=model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )


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
