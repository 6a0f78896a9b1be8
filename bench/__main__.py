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


def _line(label: str, result: Result) -> str:
    return (
        f"| {label} | {result.concurrency} | {result.rate:.0f} | {result.percentile(50):.2f} |"
        f" {result.percentile(99):.2f} | {result.errors} |"
    )


def run(stack: Stack, *, warmup: float, seconds: float) -> list[str]:
    with httpx.Client(base_url=stack.base_url, timeout=10) as api:
        admin = _token(api, ADMIN_EMAIL, ADMIN_PASSWORD)
        auth = {"Authorization": f"Bearer {admin}"}
        user_id = api.get("/api/users/me", headers=auth).json()["id"]
        # The admin's own chat and message, and a ticket on it, for the read paths.
        chat_id = api.post("/api/chats", headers=auth).json()["id"]
        message = api.post(
            f"/api/chats/{chat_id}/messages?wait=10",
            json={"content": "How do I export?"},
            headers=auth,
        ).json()
        ticket_id = api.post(
            "/api/tickets", json={"message_id": message["id"], "issue_type": "other"}, headers=auth
        ).json()["id"]
    port = int(stack.base_url.rsplit(":", 1)[1])
    cases = [
        ("GET /api/users/{id}", f"/api/users/{user_id}", "GET", b"", 200),
        ("GET /api/tickets/{id}", f"/api/tickets/{ticket_id}", "GET", b"", 200),
        (
            "POST message, wait sealed",
            f"/api/chats/{chat_id}/messages?wait=10",
            "POST",
            b'{"content": "How do I reset my password?"}',
            201,
        ),
    ]
    rows: list[str] = []
    scaling: dict[str, float] = {}
    for label, path, method, body, expect in cases:
        rates = []
        for concurrency in (1, 32):
            result = uvloop.run(
                measure(
                    "127.0.0.1",
                    port,
                    path,
                    auth,
                    concurrency=concurrency,
                    warmup=warmup,
                    seconds=seconds,
                    method=method,
                    body=body,
                    expect=expect,
                )
            )
            rates.append(result.rate)
            rows.append(_line(label, result))
            print(
                f"  {label:<28} c={concurrency:<3} {result.rate:7.0f}/s  p50"
                f" {result.percentile(50):7.2f} ms  p99 {result.percentile(99):7.2f} ms"
                f"  errors {result.errors}",
                flush=True,
            )
        scaling[label] = rates[1] / rates[0]
    users = scaling["GET /api/users/{id}"]
    lines = [
        f"# Benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"{platform.node()}: Python {platform.python_version()}, {os.cpu_count()} cores; all on"
        f" this machine; closed loop, {warmup:g} s warm-up then {seconds:g} s measured. The AI"
        " worker answers offline (no LLM), so the pipeline row measures the system itself:"
        " its rate is messages sealed per second, its latency POST-to-sealed.",
        "",
        "| path | concurrency | per second | p50 ms | p99 ms | errors |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"`GET /api/users/{{id}}` throughput at 32 / at 1: **{users:.2f}x** (target >="
        f" {SCALING_TARGET}x: {'met' if users >= SCALING_TARGET else 'NOT met'}).",
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
        run_stack(
            infra, Path(workdir), LOG_LEVEL="WARNING", RATE_LIMIT_MESSAGES="1000000/minute"
        ) as stack,
    ):
        print(f"system up in {time.monotonic() - started:.1f}s; measuring...", flush=True)
        lines = run(stack, warmup=args.warmup, seconds=args.seconds)
    report = "\n".join(lines) + "\n"
    REPORT.write_text(report)
    print("\n" + report + f"\n(written to {REPORT})")


if __name__ == "__main__":
    main()
