"""The streams' client, as cheap per token as asyncio allows: one ``asyncio.Protocol`` per
customer on one HTTP/1.1 connection, which POSTs a message, then at once GETs its answer's
stream (``text/event-stream``, chunked) and reads it to the final event, noting with
``time.monotonic()`` when the POST was written and when each ``token`` event arrived. No
coroutine wakes per read: the bytes are parsed in ``data_received`` by two small incremental
parsers (``HttpResponse``, ``SseParser``), unit-tested."""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

RESET = -1
"""The offset recorded for a ``reset`` event among the token events."""


@dataclass(frozen=True, slots=True)
class SseEvent:
    name: str
    data: bytes
    id: str | None = None


class SseParser:
    """Server-sent events out of a byte stream fed in pieces of any size. Lines end in ``\\n``
    or ``\\r\\n``; comments (``:``) are skipped; ``data`` lines are joined by ``\\n``; a block
    without data is not an event (as the spec says)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[SseEvent]:
        buffer = self._buffer + data
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        blocks = buffer.split(b"\n\n")
        self._buffer = blocks.pop()
        events = []
        for block in blocks:
            name, lines, event_id = "message", [], None
            for line in block.split(b"\n"):
                if not line or line[0] == 58:  # ":", a comment
                    continue
                key, _, value = line.partition(b":")
                if value[:1] == b" ":
                    value = value[1:]
                if key == b"data":
                    lines.append(value)
                elif key == b"event":
                    name = value.decode()
                elif key == b"id":
                    event_id = value.decode()
            if lines:
                events.append(SseEvent(name, b"\n".join(lines), event_id))
        return events


class HttpResponse:
    """One HTTP/1.1 response fed in pieces: ``feed`` returns the body bytes each piece
    completes (de-chunked, or up to ``Content-Length``); ``status`` once the head is in,
    ``complete`` once the body is."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: dict[bytes, bytes] = {}
        self.complete = False
        self._buffer = b""
        self._chunked = False
        self._left = 0
        """Content-Length: body bytes still to come; chunked: bytes of the current chunk."""
        self._crlf = False
        """Chunked: the CRLF after a chunk's data is still to come."""

    def feed(self, data: bytes) -> bytes:
        buffer = self._buffer + data
        if self.status is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self._buffer = buffer
                return b""
            self._head(buffer[:end])
            buffer = buffer[end + 4 :]
        if self._chunked:
            return self._dechunk(buffer)
        body, self._buffer = buffer[: self._left], buffer[self._left :]
        self._left -= len(body)
        self.complete = self._left == 0
        return body

    def _head(self, head: bytes) -> None:
        status_line, *lines = head.split(b"\r\n")
        self.status = int(status_line.split(b" ", 2)[1])
        for line in lines:
            name, _, value = line.partition(b":")
            self.headers[name.strip().lower()] = value.strip()
        self._chunked = b"chunked" in self.headers.get(b"transfer-encoding", b"").lower()
        self._left = int(self.headers.get(b"content-length", b"0"))

    def _dechunk(self, buffer: bytes) -> bytes:
        out, at = [], 0
        while not self.complete:
            if self._left:
                piece = buffer[at : at + self._left]
                out.append(piece)
                at += len(piece)
                self._left -= len(piece)
                if self._left:
                    break
                self._crlf = True
            if self._crlf:
                if len(buffer) - at < 2:
                    break
                at, self._crlf = at + 2, False
            end = buffer.find(b"\r\n", at)
            if end < 0:
                break
            size = int(buffer[at:end].split(b";", 1)[0], 16)
            at = end + 2
            if size == 0:
                self.complete = True  # trailers, if any, are not read
            self._left = size
        self._buffer = buffer[at:]
        return b"".join(out)


@dataclass
class StreamRecord:
    """What one customer saw: times are ``time.monotonic()``; ``offsets`` holds ``RESET`` where
    a ``reset`` event came (its time and an empty delta beside it)."""

    tag: str
    post_sent: float = 0.0
    post_status: int | None = None
    stream_status: int | None = None
    times: list[float] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    deltas: list[str] = field(default_factory=list)
    final_event: str | None = None
    ai_response: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return self.__dict__

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StreamRecord":
        return cls(**data)


def _request(method: str, host: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Customer(asyncio.Protocol):
    """POST the question, then GET the message's stream on the same connection and read it to
    the final event. ``opened`` and ``closed`` are called as the stream opens and ends (the
    count of open streams); ``done`` is resolved at the end, whatever happened."""

    def __init__(
        self,
        record: StreamRecord,
        *,
        host: str,
        chat_id: str,
        token: str,
        question: str,
        done: asyncio.Future[None],
        opened: Callable[[], None] | None = None,
        closed: Callable[[], None] | None = None,
    ) -> None:
        self.record, self._host, self._chat_id, self._done = record, host, chat_id, done
        self._auth = {"Authorization": f"Bearer {token}"}
        self._post = _request(
            "POST",
            host,
            f"/api/chats/{chat_id}/messages",
            self._auth,
            orjson.dumps({"content": question}),
        )
        self._opened, self._closed = opened, closed
        self._response = HttpResponse()
        self._body = b""
        self._streaming = False
        self._sse = SseParser()
        self._transport: asyncio.Transport | None = None
        self._finished = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.record.post_sent = time.monotonic()
        self._transport.write(self._post)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        try:
            body = self._response.feed(data)
            if not self._streaming:
                self._posted(body)
                return
            status = self._response.status
            if status is not None and status != 200:
                self.record.stream_status = status
                self._finish(f"GET {status}")
                return
            if body:
                for event in self._sse.feed(body):
                    self._event(event, now)
            if self._response.complete:
                self._finish("the stream ended without a final event")
        except Exception as exc:  # a malformed answer: what it was, and stop
            self._finish(f"{type(exc).__name__}: {exc}")

    def _posted(self, body: bytes) -> None:
        self._body += body
        if not self._response.complete:
            return
        self.record.post_status = self._response.status
        if self._response.status != 202:
            self._finish(f"POST {self._response.status}")
            return
        message_id = orjson.loads(self._body)["id"]
        path = f"/api/chats/{self._chat_id}/messages/{message_id}/stream"
        self._response, self._streaming = HttpResponse(), True
        assert self._transport is not None
        self._transport.write(
            _request("GET", self._host, path, {**self._auth, "Accept": "text/event-stream"}, b"")
        )
        if self._opened is not None:
            self._opened()

    def _event(self, event: SseEvent, now: float) -> None:
        record = self.record
        record.stream_status = 200
        if event.name == "token":
            token = orjson.loads(event.data)
            record.times.append(now)
            record.offsets.append(token["offset"])
            record.deltas.append(token["delta"])
        elif event.name == "reset":
            record.times.append(now)
            record.offsets.append(RESET)
            record.deltas.append("")
        else:
            record.final_event = event.name
            record.ai_response = orjson.loads(event.data).get("ai_response")
            self._finish(None)

    def abort(self, reason: str) -> None:
        """End now (a timeout, a connection refused), with ``reason`` as the error."""
        self._finish(reason)

    def _finish(self, error: str | None) -> None:
        if self._finished:
            return
        self._finished = True
        self.record.error = error
        if self._streaming and self._closed is not None:
            self._closed()
        if not self._done.done():  # a waiter cancelled by a timeout cancelled it
            self._done.set_result(None)
        if self._transport is not None:
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._finished:
            self._finish(f"connection lost: {exc!r}" if exc else "connection closed")
