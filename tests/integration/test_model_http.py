"""The AI worker's HTTP to the model on asyncio's transports (``ai_worker.http``), against real
servers on this machine: plain and TLS, a stream read as it is written, keep-alive, a connection
cut mid-answer and a server that stops writing are the errors the SDK's own backend gives."""

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx2
import openai
import pytest

from ai_worker.http import model_http_client
from fakes.openai_server import FakeOpenAI, paced_answer


@pytest.fixture(scope="module")
def model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


async def test_the_sdk_streams_an_answer_as_it_is_written(model: FakeOpenAI) -> None:
    client = openai.AsyncOpenAI(
        api_key="k", base_url=model.base_url, http_client=model_http_client(8), max_retries=0
    )
    words: list[str] = []
    stream = await client.chat.completions.create(
        model="fake-model",
        messages=[{"role": "user", "content": "hi [[fake:paced:0:200:20]]"}],
        stream=True,
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            words.append(chunk.choices[0].delta.content)
    assert "".join(words) == paced_answer(20)
    second = await client.chat.completions.create(
        model="fake-model", messages=[{"role": "user", "content": "again"}]
    )
    assert second.choices[0].message.content
    await client.close()


class Server:
    """A raw HTTP/1.1 server: counts connections, answers with what ``reply`` says."""

    def __init__(self, reply: bytes, *, then: str = "keep") -> None:
        self.reply, self.then, self.connections = reply, then, 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(self.reply)
                await writer.drain()
                if self.then == "cut":
                    writer.transport.abort()
                    return
                if self.then == "hang":
                    await asyncio.sleep(30)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return key, cert


async def serve(server: Server, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=tls)
    try:
        yield listening.sockets[0].getsockname()[1]
    finally:
        listening.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"


async def test_tls_and_keep_alive(certificate: tuple[Path, Path]) -> None:
    key, cert = certificate
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    client_side = ssl.create_default_context(cafile=str(cert))
    server = Server(OK)
    async for port in serve(server, server_side):
        async with model_http_client(4, verify=client_side) as client:
            for _ in range(3):
                response = await client.get(f"https://localhost:{port}/")
                assert (response.status_code, response.text) == (200, "hello")
    assert server.connections == 1, "one connection, kept alive"


async def test_a_connection_cut_mid_body_is_a_transport_error() -> None:
    half = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf"
    async for port in serve(Server(half, then="cut")):
        async with model_http_client(4) as client:
            with pytest.raises(httpx2.TransportError):
                await client.get(f"http://127.0.0.1:{port}/")


async def test_a_server_that_stops_writing_is_a_read_timeout() -> None:
    half = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf"
    async for port in serve(Server(half, then="hang")):
        async with model_http_client(4) as client:
            with pytest.raises(httpx2.ReadTimeout):
                await client.get(f"http://127.0.0.1:{port}/", timeout=0.3)


async def test_nobody_listening_is_a_connect_error() -> None:
    async with model_http_client(4) as client:
        with pytest.raises(httpx2.ConnectError):
            await client.get("http://127.0.0.1:1/")
