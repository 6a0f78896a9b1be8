"""``python -m bench.stream_load``: the load generator of the answer streams' bench, in a process
of its own on uvloop. It reads its plan (one JSON line on stdin: the gateway's address and pid,
the customers, over how many seconds they start), prints ``ready``, waits for ``go``, starts
each customer at its moment (``bench.sse_client.Customer``), and when every stream has ended
prints ``done``, writes its results as JSON to the plan's ``results`` path and prints
``written``. The results: what each customer saw, its own CPU over the load, how late
its event loop woke (a ticker sleeping 10 ms), and the gateway's RSS, sampled every 100 ms with
the number of streams open."""

import asyncio
import gc
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import uvloop

from bench.sse_client import Customer, StreamRecord
from bench.stream_figures import percentile

TICK = 0.01
SAMPLE_EVERY = 0.1


def rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` in kB (0 if ``/proc`` does not say)."""
    try:
        status = Path(f"/proc/{pid}/status").read_bytes()
    except OSError:
        return 0
    at = status.find(b"VmRSS:")
    return int(status[at + 6 : status.index(b"kB", at)]) if at >= 0 else 0


@dataclass
class _Watch:
    """The count of open streams, the ticker's lateness and the RSS samples."""

    gateway_pid: int
    open: int = 0
    lags: list[float] = field(default_factory=list)
    samples: list[tuple[int, int]] = field(default_factory=list)
    """(streams open, gateway RSS kB)."""
    running: bool = True

    def opened(self) -> None:
        self.open += 1

    def closed(self) -> None:
        self.open -= 1

    async def tick(self) -> None:
        while self.running:
            before = time.monotonic()
            await asyncio.sleep(TICK)
            self.lags.append(time.monotonic() - before - TICK)

    async def sample(self) -> None:
        while self.running:
            self.samples.append((self.open, rss_kb(self.gateway_pid)))
            await asyncio.sleep(SAMPLE_EVERY)


async def _customer(
    plan: dict[str, Any], customer: dict[str, str], at: float, watch: _Watch
) -> StreamRecord:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    record = StreamRecord(customer["tag"])
    done: asyncio.Future[None] = loop.create_future()
    protocol = Customer(
        record,
        host=f"{plan['host']}:{plan['port']}",
        chat_id=customer["chat_id"],
        token=customer["token"],
        question=customer["question"],
        done=done,
        opened=watch.opened,
        closed=watch.closed,
    )
    try:
        async with asyncio.timeout(plan["timeout"]):
            await loop.create_connection(lambda: protocol, plan["host"], plan["port"])
            await done
    except TimeoutError:
        protocol.abort(f"no final event within {plan['timeout']:g} s")
    except OSError as exc:
        protocol.abort(f"{type(exc).__name__}: {exc}")
    return record


async def run(plan: dict[str, Any]) -> dict[str, Any]:
    watch = _Watch(plan["gateway_pid"])
    helpers = [asyncio.create_task(watch.tick()), asyncio.create_task(watch.sample())]
    customers = plan["customers"]
    cpu_before, started = time.process_time(), time.monotonic()
    step = plan["spread"] / len(customers)
    records = await asyncio.gather(
        *(_customer(plan, c, started + n * step, watch) for n, c in enumerate(customers))
    )
    cpu, seconds = time.process_time() - cpu_before, time.monotonic() - started
    watch.running = False
    await asyncio.gather(*helpers)
    peak = max((n for n, _ in watch.samples), default=0)
    return {
        "records": [r.to_json() for r in records],
        "cpu_seconds": cpu,
        "seconds": seconds,
        "lag_p99_ms": percentile(watch.lags, 99) * 1000,
        "lag_max_ms": max(watch.lags, default=0.0) * 1000,
        "peak_open": peak,
        "rss_at_peak_mb": max((kb for n, kb in watch.samples if n == peak), default=0) / 1024,
        "rss_max_mb": max((kb for _, kb in watch.samples), default=0) / 1024,
    }


def main() -> None:
    plan = orjson.loads(sys.stdin.buffer.readline())
    gc.collect()
    gc.freeze()  # what was built so far is never garbage: the collector skips it
    gc.set_threshold(10_000, 50, 100)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    results = uvloop.run(run(plan))
    print("done", flush=True)
    Path(plan["results"]).write_bytes(orjson.dumps(results))
    print("written", flush=True)


if __name__ == "__main__":
    main()
