"""``python -m bench.fake_llm [--timed]``: the tests' fake OpenAI server (``tests/fakes``) in a
process of its own: it prints its base URL, then serves until SIGTERM. The bench points the AI
worker at it to measure the pipeline through the ``openai`` SDK over real HTTP.

With ``--timed``, for every chat completion whose question holds a tag ``(bench <tag>)`` it
notes, with ``time.monotonic()`` (``CLOCK_MONOTONIC``, the same clock in every process of the
machine), when the request came in and when each token's chunk was written to the connection
(handed to the transport, after uvicorn's ``send``); ``GET /v1/_timings`` answers them,
``{tag: [{"received": t, "tokens": [t0, t1, ...]}, ...]}``, one entry per request (a retried
answer has several)."""

import argparse
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from fakes.openai_server import FakeOpenAI, last_user_message

TAG = re.compile(r"\(bench ([^)\s]+)\)")
_TIMING = "bench.timing"
_TOKEN = b'"delta": {"content": "'
"""How a chunk with words begins its delta (the role chunk's has ``"role"`` first)."""


def tag_of(question: str) -> str | None:
    found = TAG.search(question)
    return found.group(1) if found else None


class _TimedSend:
    """uvicorn's ``send``, noting when each chunk with words was written. The fake finds the
    connection's transport as its ``send``'s ``__self__.transport``: so is this one's."""

    def __init__(self, send: Send, tokens: list[float]) -> None:
        self._send, self._tokens = send, tokens
        self.transport = getattr(getattr(send, "__self__", None), "transport", None)

    async def send(self, message: Message) -> None:
        await self._send(message)
        if message["type"] == "http.response.body" and _TOKEN in message.get("body", b""):
            self._tokens.append(time.monotonic())


class TimedFakeOpenAI(FakeOpenAI):
    """The fake server, noting when each tagged request came in and each token left."""

    def __init__(self) -> None:
        super().__init__()
        self.timings: dict[str, list[dict[str, Any]]] = {}
        self.app.router.routes.append(Route("/v1/_timings", self._timings, methods=["GET"]))

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/chat/completions":
            await super()._asgi(scope, receive, send)
            return
        timing: dict[str, Any] = {"received": time.monotonic(), "tokens": []}
        scope[_TIMING] = timing
        await super()._asgi(scope, receive, _TimedSend(send, timing["tokens"]).send)

    async def _chat(self, request: Request) -> Response:
        try:
            body = await request.json()  # kept by the request: the fake reads it again
        except ValueError:
            body = None
        messages = body.get("messages") if isinstance(body, dict) else None
        tag = tag_of(last_user_message(messages)) if isinstance(messages, list) else None
        if tag is not None and (timing := request.scope.get(_TIMING)) is not None:
            self.timings.setdefault(tag, []).append(timing)
        return await super()._chat(request)

    async def _timings(self, request: Request) -> Response:
        return JSONResponse(self.timings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timed", action="store_true", help="note tagged requests' timings")
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with TimedFakeOpenAI() if args.timed else FakeOpenAI() as server:
        print(server.base_url, flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
