"""The measuring instrument of ``make bench``: ``Bench.probe`` loads one request at one
concurrency on a running copy of the system, and takes what every process's metrics gained and
the CPU each process spent over the run."""

import os
import time
from pathlib import Path

import httpx
import uvloop

from bench import cpu
from bench.analysis import fmt_bounds, rows_label
from bench.load import Result, measure
from bench.probes import Case, Probe
from bench.prom import Snapshot, delta, scrape
from bench.tables import errors
from deploy.sandbox import Stack

MODULES = {
    "gateway": "gateway",
    "users": "users_service",
    "chat": "chat_service",
    "tickets": "ticket_service",
    "ai worker": "ai_worker",
}
"""The system's processes, by the name the report gives them."""


class Bench:
    def __init__(
        self,
        stack: Stack,
        auth: dict[str, str],
        *,
        warmup: float,
        seconds: float,
        beside: dict[str, int] | None = None,
    ):
        """``beside``: pids of other processes the requests make work for (the fake LLM)."""
        self._stack, self._beside = stack, beside or {}
        self._base_url = stack.base_url
        self._port = int(stack.base_url.rsplit(":", 1)[1])
        self._auth, self._warmup, self._seconds = auth, warmup, seconds
        self._metrics = {
            "gateway": f"{stack.base_url}/metrics",
            **{
                name: f"http://127.0.0.1:{port}/metrics"
                for name, port in stack.metrics_ports.items()
            },
        }

    def _load(self, case: Case, concurrency: int, seconds: float) -> Result:
        return uvloop.run(
            measure(
                "127.0.0.1",
                self._port,
                case.path,
                self._auth,
                concurrency=concurrency,
                warmup=0,
                seconds=seconds,
                method=case.method,
                body=case.body,
                expect=case.expect,
            )
        )

    def check(self, case: Case) -> int:
        """Ask once; how many items the page holds (a case that measures an error or an empty
        page would measure nothing worth knowing)."""
        response = httpx.get(self._base_url + case.path, headers=self._auth, timeout=10)
        items = response.json().get("items") if response.status_code == case.expect else None
        if not items:
            raise RuntimeError(f"{case.label}: {response.status_code} {response.text[:300]}")
        return len(items)

    def _processes(self) -> dict[str, list[int]]:
        return {
            **{name: [self._stack.service_pid(module)] for name, module in MODULES.items()},
            "postgres": cpu.pids_named("postgres"),
            "rabbitmq": cpu.pids_named("beam.smp"),
            **{name: [pid] for name, pid in self._beside.items()},
            cpu.LOAD_GENERATOR: [os.getpid()],
        }

    def _scrape(self) -> dict[str, Snapshot]:
        return {name: scrape(url) for name, url in self._metrics.items()}

    def probe(self, case: Case, concurrency: int, *, rows: int | None = None) -> Probe:
        if self._warmup > 0:
            self._load(case, concurrency, self._warmup)
        time.sleep(case.settle)
        before = self._scrape()
        cpu_before = cpu.snapshot(self._processes)
        result = self._load(case, concurrency, self._seconds)
        time.sleep(case.settle)
        cpu_used = cpu.per_request(cpu_before, cpu.snapshot(self._processes), len(result.latencies))
        after = self._scrape()
        probe = Probe(
            case,
            concurrency,
            result,
            {name: delta(after[name], before[name]) for name in after},
            cpu_used,
        )
        sql = ", ".join(f"{s.service} {s.statements:.2f}" for s in probe.sql) or "none"
        size = f" {rows_label(rows):>4}" if rows is not None else ""
        print(
            f"  {case.label:<44}{size} c={concurrency:<3} {result.rate:7.0f}/s"
            f"  p50 {probe.p50:7.2f} ms  p99 {probe.p99:7.2f} ms  errors {errors(result)}"
            f"  handler p99 in {fmt_bounds(probe.server.handler_p99)} ms  SQL/req {sql}"
            f"  CPU/req {probe.system_cpu:.2f} ms",
            flush=True,
        )
        return probe


def rss_mb(pid: int) -> float:
    """The resident memory of ``pid``, in MB (0 if ``/proc`` does not say)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
