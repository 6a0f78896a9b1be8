"""A fake OpenAI chat-completions server over real HTTP, for integration tests.

``with FakeOpenAI() as server:`` serves on ``server.base_url``, for any ``openai`` client, in this
process or another (``OPENAI_BASE_URL``). The answer echoes the last user message. A marker
``[[fake:<behaviour>]]`` in that message picks the behaviour of the request, else
``server.behaviour`` applies: ``normal``, ``slow:<seconds>`` (wait before the first byte),
``status:<code>`` (an OpenAI-style error), ``drop`` (cut the connection; after a few chunks when
streaming), ``odd`` (a stream with fields of unexpected shapes before the answer, which a lenient
client reads as missing), ``paced:<first>:<rate>:<n>`` (a model's pace: the first token after
``first`` seconds, then ``rate`` tokens a second, ``n`` tokens ``t0 t1 ...`` in all).
``status:<code>x<n>`` and ``dropx<n>`` fail only the first n times for
the same text.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

MODELS = ("gpt-4o-mini", "fake-model")
_MARKER = re.compile(r"\[\[fake:([^\]]*)\]\]")
_COUNTED = re.compile(r"(status:\d{3}|drop)x(\d+)")
_TRANSPORT = "fake_openai.transport"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received; ``body`` is the parsed JSON object (``{}`` if none)."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def last_user_message(messages: list[Any]) -> str:
    """The text of the last user message ("" if none); text content parts are joined."""
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    content = users[-1].get("content") if users else ""
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _error(status: int, message: str) -> JSONResponse:
    kind, code = {
        400: ("invalid_request_error", None),
        401: ("invalid_request_error", "invalid_api_key"),
        429: ("requests", "rate_limit_exceeded"),
    }.get(status, ("server_error", "server_error"))
    # The SDK ignores ``retry-after: 0`` (it wants > 0): ``retry-after-ms`` wins and is tiny.
    headers = {"retry-after": "0", "retry-after-ms": "10"} if status == 429 else None
    error = {"message": message, "type": kind, "param": None, "code": code}
    return JSONResponse({"error": error}, status, headers=headers)


def paced_answer(tokens: int) -> str:
    """The answer of ``paced:...:<tokens>``: ``t0 t1 ... t<tokens - 1>``."""
    return " ".join(f"t{i}" for i in range(tokens))


def _sse(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


async def _pause(request: Request, seconds: float) -> None:
    """Sleep, but stop early if the client hangs up (so no request lingers after a timeout)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while (await request.receive())["type"] != "http.disconnect":
                pass


async def _drop(transport: asyncio.Transport | None) -> None:
    """Cut the connection: what was written so far still reaches the client, then EOF."""
    assert transport is not None, "drop needs uvicorn's transport"
    for _ in range(200):  # let the chunks already written leave the buffer
        if transport.get_write_buffer_size() == 0:
            break
        await asyncio.sleep(0.005)
    transport.abort()
    await asyncio.sleep(0.05)  # let uvicorn notice, so it sends nothing more


class FakeOpenAI:
    """The server. ``behaviour`` and ``answer`` may be set at any time; ``reset()`` restores."""

    def __init__(self) -> None:
        self.behaviour = "normal"
        self.answer: str | None = None  # a fixed answer instead of the echo
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._counts: Counter[tuple[str, str]] = Counter()
        self.in_flight = 0
        self.most_in_flight = 0
        """The most chat completions it was writing at once."""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        chat = Route("/v1/chat/completions", self._chat, methods=["POST"])
        self.app = Starlette(routes=[chat, Route("/v1/models", self._models, methods=["GET"])])

    @property
    def base_url(self) -> str:
        assert self._sock is not None, "FakeOpenAI is not started"
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"

    def start(self, timeout: float = 10.0) -> Self:
        assert self._thread is None, "FakeOpenAI is already started"
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            self._asgi, interface="asgi3", lifespan="off", log_config=None, log_level="warning"
        )  # log_config=None: uvicorn's log records go to the root logger (and pytest's capture)
        config.timeout_graceful_shutdown = 1
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._sock]}, name="fake-openai", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("FakeOpenAI did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(3)
            self._server.force_exit = True
            self._thread.join(3)
        if self._sock is not None:
            self._sock.close()
        self._server, self._thread = None, None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        """Forget requests and ``x<n>`` counts; back to the ``normal`` behaviour and the echo."""
        with self._lock:
            self._requests.clear()
            self._counts.clear()
        self.behaviour, self.answer = "normal", None

    clear = reset

    def answer_for(self, question: str) -> str:
        """The answer to a last user message: ``answer`` if set, else an echo of the question."""
        if self.answer is not None:
            return self.answer
        return f"Answer to: {_MARKER.sub('', question).strip()[:200]}. Sources: [1]"

    def _pick(self, question: str) -> str:
        found = _MARKER.search(question)
        spec = (found.group(1) if found else self.behaviour).strip()
        if (counted := _COUNTED.fullmatch(spec)) is None:
            return spec
        with self._lock:
            self._counts[spec, question] += 1
            seen = self._counts[spec, question]
        return counted.group(1) if seen <= int(counted.group(2)) else "normal"

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        # uvicorn's ``send`` is a bound method of its request cycle, which holds the transport.
        scope[_TRANSPORT] = getattr(getattr(send, "__self__", None), "transport", None)
        await self.app(scope, receive, send)

    async def _receive(self, request: Request) -> tuple[dict[str, Any], Response | None]:
        """Record the request; its JSON body, and an error response if it is refused."""
        try:
            body = await request.json() if await request.body() else {}
        except ValueError:
            body = None
        parsed = body if isinstance(body, dict) else {}
        record = RecordedRequest(request.method, request.url.path, dict(request.headers), parsed)
        with self._lock:
            self._requests.append(record)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return parsed, _error(401, "You didn't provide an API key (Authorization: Bearer).")
        return parsed, None if body is not None else _error(400, "The body is not JSON.")

    async def _models(self, request: Request) -> Response:
        _, refused = await self._receive(request)
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in MODELS]
        return refused or JSONResponse({"object": "list", "data": data})

    async def _chat(self, request: Request) -> Response:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            response = await self._completion(request)
        except BaseException:
            self._done()
            raise
        if isinstance(response, StreamingResponse):
            response.background = BackgroundTask(self._done)
        else:
            self._done()
        return response

    def _done(self) -> None:
        with self._lock:
            self.in_flight -= 1

    async def _completion(self, request: Request) -> Response:
        body, refused = await self._receive(request)
        if refused is not None:
            return refused
        if not isinstance(body.get("messages"), list):
            return _error(400, "'messages' is a required property.")
        question = last_user_message(body["messages"])
        behaviour = self._pick(question)
        kind, _, arg = behaviour.partition(":")
        pace: tuple[float, float, int] | None = None
        try:
            if kind == "status" and 400 <= int(arg) < 600:
                return _error(int(arg), f"Fake error {arg} ([[fake:{behaviour}]]).")
            delay = float(arg) if kind == "slow" else 0.0
            if kind == "paced":
                first, rate, count = arg.split(":")
                pace = (float(first), float(rate), int(count))
                delay = pace[0]
            elif kind not in ("slow", "normal", "drop", "odd") or (kind != "slow" and arg):
                raise ValueError(behaviour)
        except ValueError:
            return _error(400, f"Unknown fake behaviour {behaviour!r}.")
        await _pause(request, delay)
        transport: asyncio.Transport | None = request.scope.get(_TRANSPORT)
        if behaviour == "drop" and not body.get("stream"):
            await _drop(transport)
            return Response(status_code=204)  # never sent: the connection is gone
        answer = paced_answer(pace[2]) if pace else self.answer_for(question)
        pieces: list[str] = re.findall(r"\S+\s*|\s+", answer)
        asked, n = len(json.dumps(body["messages"]).split()), len(pieces)  # rough token counts
        usage = {"prompt_tokens": asked, "completion_tokens": n, "total_tokens": asked + n}
        head = {"id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "created": int(time.time())}
        head |= {"model": str(body.get("model") or MODELS[0]), "system_fingerprint": "fp_fake"}
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": answer, "refusal": None}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
            completion = {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
            return JSONResponse(completion)
        options = body.get("stream_options")
        with_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        head = {**head, "object": "chat.completion.chunk"}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return _sse({**head, "choices": [choice]} | ({"usage": None} if with_usage else {}))

        async def events() -> AsyncIterator[bytes]:
            if behaviour == "odd":
                yield _sse({**head, "model": 7, "choices": "?", "usage": "n/a"})
                yield _sse({**head, "choices": [{"index": 0, "delta": None}, "?"]})
            yield chunk({"role": "assistant", "content": "", "refusal": None})
            started = time.monotonic()
            for number, piece in enumerate(pieces[: 2 if behaviour == "drop" else None]):
                if pace is not None:  # on time, however late the loop woke before
                    await asyncio.sleep(max(0.0, started + number / pace[1] - time.monotonic()))
                else:
                    await asyncio.sleep(min(delay / 20, 0.05))
                yield chunk({"content": piece})
            if behaviour == "drop":
                await _drop(transport)
                return
            yield chunk({}, "stop")
            if with_usage:
                yield _sse({**head, "choices": [], "usage": usage})
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")
