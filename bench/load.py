"""A closed-loop HTTP/1.1 load generator: ``concurrency`` keep-alive connections, each sending
its next request as soon as the previous answer is in (the way the floors in
docs/performance.md were measured). Raw sockets keep its own cost per request small."""

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class Result:
    concurrency: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    """How many answers had each unexpected status."""

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def build_request(
    host: str,
    port: int,
    path: str,
    headers: dict[str, str],
    *,
    method: str = "GET",
    body: bytes = b"",
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _connection(
    host: str,
    port: int,
    request: bytes,
    start: float,
    stop: float,
    result: Result,
    expect: bytes = b"200",
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (sent := time.perf_counter()) < stop:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            if sent >= start:
                result.latencies.append(time.perf_counter() - sent)
                if head[9:12] != expect:
                    result.errors += 1
                    status = head[9:12].decode(errors="replace")
                    result.statuses[status] = result.statuses.get(status, 0) + 1
    finally:
        writer.close()


async def measure(
    host: str,
    port: int,
    path: str,
    headers: dict[str, str],
    *,
    concurrency: int,
    warmup: float,
    seconds: float,
    method: str = "GET",
    body: bytes = b"",
    expect: int = 200,
) -> Result:
    """Load ``path`` for ``warmup + seconds``; keep what was sent after the warm-up."""
    request = build_request(host, port, path, headers, method=method, body=body)
    result = Result(concurrency=concurrency, seconds=seconds)
    start = time.perf_counter() + warmup
    await asyncio.gather(
        *(
            _connection(host, port, request, start, start + seconds, result, str(expect).encode())
            for _ in range(concurrency)
        )
    )
    return result
