"""The AI worker's HTTP to the model: the ``openai`` SDK's own client (httpx2 on httpcore2),
with a network backend on asyncio's transports rather than anyio's streams.

A model writes its answer one token at a time, so every token is a read of its own, and the
worker reads the tokens of hundreds of answers at once. httpcore2's default backend goes through
anyio for every read (a cancel scope with its timer, an exception map, a stream object per
layer), which is most of what a token costs the worker. ``AsyncioBackend`` gives httpcore2 the
same network stream interface on an asyncio ``Protocol``: data that came is handed over without
waiting, a read that waits sets one timer. HTTP itself, pooling, TLS (``loop.start_tls``) and
the SDK's errors are unchanged.
"""

import asyncio
import socket
import ssl
from collections.abc import Iterable
from typing import Any, cast

import httpcore2
import httpx2
import openai
from httpcore2 import AsyncNetworkBackend, AsyncNetworkStream

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class _Received(asyncio.Protocol):
    """What a connection received and not read yet, and whoever waits for more."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.closed = False
        self.error: BaseException | None = None
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not asyncio.Transport subclasses, but have its methods)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed, self.error = True, exc
        self._wake()
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def more(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def drained(self) -> None:
        if self._paused and not self.closed:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained


class AsyncioStream(AsyncNetworkStream):
    def __init__(self, received: _Received) -> None:
        self._received = received
        assert received.transport is not None
        self._transport = received.transport

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        received = self._received
        if not received.buffer and not received.closed:
            try:
                async with asyncio.timeout(timeout):
                    while not received.buffer and not received.closed:
                        await received.more()
            except TimeoutError as exc:
                raise httpcore2.ReadTimeout(str(exc) or "read timed out") from exc
        if received.buffer:
            data = bytes(received.buffer[:max_bytes])
            del received.buffer[:max_bytes]
            return data
        if received.error is not None:
            raise httpcore2.ReadError(str(received.error)) from received.error
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self._transport.is_closing():
            raise httpcore2.WriteError("the connection is closed")
        self._transport.write(buffer)
        try:
            async with asyncio.timeout(timeout):
                await self._received.drained()
        except TimeoutError as exc:
            raise httpcore2.WriteTimeout(str(exc) or "write timed out") from exc

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport = await loop.start_tls(
                    self._transport, self._received, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            self._transport.close()
            raise httpcore2.ConnectTimeout(str(exc) or "TLS handshake timed out") from exc
        except (OSError, ssl.SSLError) as exc:
            self._transport.close()
            raise httpcore2.ConnectError(str(exc)) from exc
        assert transport is not None
        self._received.transport = transport
        return AsyncioStream(self._received)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # an idle pooled connection the server closed, or wrote to
            return bool(self._received.buffer) or self._received.closed
        if info in ("ssl_object", "socket"):
            return self._transport.get_extra_info(info)
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        return None


class AsyncioBackend(AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                transport, received = await loop.create_connection(
                    _Received,
                    host,
                    port,
                    local_addr=(local_address, 0) if local_address else None,
                )
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout(str(exc) or "connect timed out") from exc
        except OSError as exc:
            raise httpcore2.ConnectError(str(exc)) from exc
        sock = transport.get_extra_info("socket")
        if sock is not None:
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return AsyncioStream(received)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, received = await loop.create_unix_connection(_Received, path)
        except TimeoutError as exc:
            raise httpcore2.ConnectTimeout(str(exc) or "connect timed out") from exc
        except OSError as exc:
            raise httpcore2.ConnectError(str(exc)) from exc
        return AsyncioStream(received)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def model_http_client(
    connections: int, *, verify: ssl.SSLContext | None = None
) -> httpx2.AsyncClient:
    """The SDK's default client (its timeouts, redirects, headers), on ``AsyncioBackend``, with
    room for ``connections`` answers at once, each kept alive for the next. ``verify``: the TLS
    context (by default the system's certificate authorities, or ``SSL_CERT_FILE``)."""
    transport = httpx2.AsyncHTTPTransport()
    transport._pool = httpcore2.AsyncConnectionPool(  # the one thing the transport cannot take
        ssl_context=verify or httpx2.create_ssl_context(),
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry=5.0,
        network_backend=AsyncioBackend(),
    )
    return openai.DefaultAsyncHttpxClient(transport=transport)
