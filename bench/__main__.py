"""``make bench``: starts a throwaway copy of the system (its own database and vhost, every
service its own process, as ``make run``), loads it from outside over HTTP, prints one table
and writes it to ``bench/report.md``.

Measured: ``GET /api/users/{id}`` through the whole path (HTTP -> gateway -> RabbitMQ RPC ->
users service -> Postgres) at concurrency 1 and 32. The RPC must keep calls in flight at once:
a serialized client gains about 1.2x from 1 to 32 on a 2-core machine, a concurrent one about
1.9x; the target is at least 1.6x.
"""

import argparse
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvloop

from bench.load import Result, measure
from deploy.sandbox import ADMIN_EMAIL, ADMIN_PASSWORD, Stack, provide_infra, run_stack

REPORT = Path(__file__).parent / "report.md"
SCALING_TARGET = 1.6


def _token(api: httpx.Client, email: str, password: str) -> str:
    response = api.post("/api/auth/token", data={"username": email, "password": password})
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(stack: Stack, *, warmup: float, seconds: float) -> list[str]:
    with httpx.Client(base_url=stack.base_url, timeout=10) as api:
        admin = _token(api, ADMIN_EMAIL, ADMIN_PASSWORD)
        user_id = api.get("/api/users/me", headers={"Authorization": f"Bearer {admin}"}).json()[
            "id"
        ]
    port = int(stack.base_url.rsplit(":", 1)[1])
    headers = {"Authorization": f"Bearer {admin}"}
    results: list[Result] = []
    for concurrency in (1, 32):
        result = uvloop.run(
            measure(
                "127.0.0.1",
                port,
                f"/api/users/{user_id}",
                headers,
                concurrency=concurrency,
                warmup=warmup,
                seconds=seconds,
            )
        )
        results.append(result)
        print(
            f"  c={concurrency:<3} {result.rate:8.0f} req/s  p50 {result.percentile(50):6.2f} ms"
            f"  p99 {result.percentile(99):6.2f} ms  errors {result.errors}",
            flush=True,
        )
    one, many = results
    scaling = many.rate / one.rate
    lines = [
        f"# Benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"{platform.node()}: Python {platform.python_version()}, {os.cpu_count()} cores; all on"
        f" this machine; closed loop, {warmup:g} s warm-up then {seconds:g} s measured.",
        "",
        "| path | concurrency | req/s | p50 ms | p99 ms | errors |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| GET /api/users/{{id}} | {r.concurrency} | {r.rate:.0f} | {r.percentile(50):.2f} |"
        f" {r.percentile(99):.2f} | {r.errors} |"
        for r in results
    ]
    verdict = "met" if scaling >= SCALING_TARGET else "NOT met"
    lines += [
        "",
        f"Throughput at 32 / at 1: **{scaling:.2f}x** (target >= {SCALING_TARGET}x: {verdict}).",
        "",
        "| process | RSS MB after the run |",
        "| --- | --- |",
    ]
    for module in ("gateway", "users_service", "chat_service", "ticket_service", "ai_worker"):
        lines.append(f"| {module} | {_rss_mb(stack.service_pid(module)):.0f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    args = parser.parse_args()
    started = time.monotonic()
    with (
        provide_infra() as infra,
        tempfile.TemporaryDirectory() as workdir,
        run_stack(infra, Path(workdir), LOG_LEVEL="WARNING") as stack,
    ):
        print(f"system up in {time.monotonic() - started:.1f}s; measuring...", flush=True)
        lines = run(stack, warmup=args.warmup, seconds=args.seconds)
    report = "\n".join(lines) + "\n"
    REPORT.write_text(report)
    print("\n" + report + f"\n(written to {REPORT})")


if __name__ == "__main__":
    main()
