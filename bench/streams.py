"""The answer streams' bench: customers who POST a question and at once follow its answer's
stream (``GET /api/chats/{chat_id}/messages/{message_id}/stream``) to the ``sealed`` event, while
the AI worker streams the answer from a fake model at a real model's pace.

Two loads, each on a fresh system with a fresh fake model (``bench.fake_llm --timed``, in a
process of its own, noting when each request came and each token left): 200 customers starting
within 2 s, the model at 40 tokens a second; 1,000 within 10 s at 8 a second; every answer 150
tokens after 0.3 s. A few dozen signed-up customers share the streams, one chat each; a few
short streams warm the system up first. The load generator (``bench.stream_load``) runs in a
process of its own; the CPU of the system's processes is read from ``/proc`` over the load,
and the figures come from ``bench.stream_figures``."""

import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench import cpu
from bench.llm import fake_llm
from bench.prober import MODULES
from bench.sse_client import StreamRecord
from bench.stream_figures import ModelTiming, StreamFigures, analyse
from bench.stream_meter import Meter, busiest
from deploy.sandbox import Infra, Stack, run_stack

ROOT = Path(__file__).resolve().parents[1]
TOKENS = 150
FIRST_TOKEN_SECONDS = 0.3
PEOPLE = 40
PASSWORD = "Correct-horse-1"
WARMUP_STREAMS, WARMUP_TOKENS = 6, 20
FAKE_MODEL = "fake model"
BESIDE = (FAKE_MODEL, cpu.LOAD_GENERATOR)
"""Processes measured beside the system, not counted in it."""


@dataclass(frozen=True)
class Load:
    label: str
    key: str
    customers: int
    spread: float
    """Seconds over which the customers start, evenly."""
    rate: float
    """The model's tokens a second."""
    timeout: float
    """Seconds a customer waits for its final event."""


LOADS = (
    Load("200 customers in 2 s, 40 tokens/s", "a", 200, 2.0, 40, 120),
    Load("1,000 customers in 10 s, 8 tokens/s", "b", 1000, 10.0, 8, 240),
)


def answer(tokens: int = TOKENS) -> str:
    """What the fake model answers ``paced:...:<tokens>`` (its ``paced_answer``)."""
    return " ".join(f"t{i}" for i in range(tokens))


@dataclass(frozen=True)
class LoadRun:
    """One measured load: the streams' figures, and what the processes spent on it."""

    load: Load
    figures: StreamFigures
    seconds: float
    """From the first customer's start to the last stream's end."""
    cpu_us: dict[str, float]
    """Microseconds of CPU per delivered token, by process (the fake model's and the load
    generator's included)."""
    busiest: dict[str, float]
    """The most of a core each process used over any second of the load."""
    handled: dict[str, float]
    """Commands and events the services handled over the load, by queue."""
    generator_cpu_seconds: float
    """The load generator's CPU over the load."""
    lag_p99_ms: float
    lag_max_ms: float
    peak_open: int
    rss_at_peak_mb: float
    rss_max_mb: float

    @property
    def system_us(self) -> float:
        return sum(us for name, us in self.cpu_us.items() if name not in BESIDE)


@dataclass(frozen=True)
class _Person:
    token: str
    chat_id: str


def _people(base_url: str, count: int) -> list[_Person]:
    """Sign up ``count`` customers, each with a chat."""
    people = []
    with httpx.Client(base_url=base_url, timeout=30) as api:
        for n in range(count):
            email = f"stream-{n}-{uuid.uuid4().hex[:8]}@example.com"
            body = {"email": email, "password": PASSWORD, "full_name": "Stream Customer"}
            api.post("/api/users", json=body).raise_for_status()
            login = api.post("/api/auth/token", data={"username": email, "password": PASSWORD})
            login.raise_for_status()
            token = login.json()["access_token"]
            chat = api.post(
                "/api/chats",
                json={"title": "Streams"},
                headers={"Authorization": f"Bearer {token}"},
            )
            chat.raise_for_status()
            people.append(_Person(token, chat.json()["id"]))
    return people


def _plan(
    stack: Stack,
    people: list[_Person],
    load: Load,
    *,
    prefix: str,
    customers: int,
    spread: float,
    tokens: int,
) -> dict[str, Any]:
    marker = f"[[fake:paced:{FIRST_TOKEN_SECONDS:g}:{load.rate:g}:{tokens}]]"
    return {
        "host": "127.0.0.1",
        "port": int(stack.base_url.rsplit(":", 1)[1]),
        "gateway_pid": stack.service_pid("gateway"),
        "spread": spread,
        "timeout": load.timeout,
        "customers": [
            {
                "tag": f"{prefix}-{n}",
                "chat_id": (person := people[n % len(people)]).chat_id,
                "token": person.token,
                "question": f"Tell me everything {marker} (bench {prefix}-{n})",
            }
            for n in range(customers)
        ],
    }


def _generate(plan: dict[str, Any], meter: Meter | None = None) -> dict[str, Any]:
    """Run the load generator on ``plan``, with ``meter`` running from its start to its end;
    its results (through a file: a pipe's 64 kB would hold them up)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.stream_load"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    results_file = Path(tempfile.mkdtemp(prefix="bench-streams-")) / "results.json"
    try:
        child.stdin.write(orjson.dumps({**plan, "results": str(results_file)}) + b"\n")
        child.stdin.flush()
        if child.stdout.readline() != b"ready\n":
            raise RuntimeError("the load generator did not start")
        if meter is not None:
            meter.extra[cpu.LOAD_GENERATOR] = [child.pid]
            meter.start()
        child.stdin.write(b"go\n")
        child.stdin.flush()
        if child.stdout.readline() != b"done\n":
            raise RuntimeError("the load generator did not finish")
        if meter is not None:
            meter.stop()
        if child.stdout.readline() != b"written\n":
            raise RuntimeError("the load generator did not write its results")
        results: dict[str, Any] = orjson.loads(results_file.read_bytes())
    finally:
        child.stdin.close()
        child.wait(timeout=30)
        shutil.rmtree(results_file.parent, ignore_errors=True)
    return results


def _timings(llm_url: str) -> dict[str, list[ModelTiming]]:
    noted = httpx.get(f"{llm_url}/_timings", timeout=60).json()
    return {tag: [ModelTiming.from_json(t) for t in requests] for tag, requests in noted.items()}


def _processes(stack: Stack, llm_pid: int) -> cpu.Processes:
    def processes() -> Mapping[str, list[int]]:
        return {
            **{name: [stack.service_pid(module)] for name, module in MODULES.items()},
            "postgres": cpu.pids_named("postgres"),
            "rabbitmq": cpu.pids_named("beam.smp"),
            FAKE_MODEL: [llm_pid],
        }

    return processes


def measure_load(infra: Infra, load: Load, stack_env: Mapping[str, str]) -> LoadRun:
    with (
        fake_llm(timed=True) as (llm_url, llm_pid),
        tempfile.TemporaryDirectory() as workdir,
        run_stack(
            infra,
            Path(workdir),
            **stack_env,
            OPENAI_API_KEY="sk-bench",
            OPENAI_BASE_URL=llm_url,
            AI_MODEL="fake-model",
            AI_TIMEOUT="60",
        ) as stack,
    ):
        people = _people(stack.base_url, PEOPLE)
        warm = _plan(
            stack,
            people,
            load,
            prefix=f"warm{load.key}",
            customers=WARMUP_STREAMS,
            spread=1.0,
            tokens=WARMUP_TOKENS,
        )
        warmed = _generate(warm)
        sealed = sum(r["final_event"] == "sealed" for r in warmed["records"])
        print(f"  warm-up: {sealed}/{WARMUP_STREAMS} streams sealed", flush=True)
        time.sleep(1.0)
        plan = _plan(
            stack,
            people,
            load,
            prefix=load.key,
            customers=load.customers,
            spread=load.spread,
            tokens=TOKENS,
        )
        metrics = {
            "gateway": f"{stack.base_url}/metrics",
            **{n: f"http://127.0.0.1:{port}/metrics" for n, port in stack.metrics_ports.items()},
        }
        meter = Meter(_processes(stack, llm_pid), metrics)
        results = _generate(plan, meter)
        timings = _timings(llm_url)
    records = [StreamRecord.from_json(r) for r in results["records"]]
    figures = analyse(records, timings, answer())
    tokens = figures.tokens_delivered
    return LoadRun(
        load=load,
        figures=figures,
        seconds=results["seconds"],
        cpu_us={name: s * 1e6 / tokens if tokens else 0.0 for name, s in meter.used.items()},
        busiest=busiest(meter.samples, 1.0),
        handled=meter.handled,
        generator_cpu_seconds=meter.used.get(cpu.LOAD_GENERATOR, 0.0),
        lag_p99_ms=results["lag_p99_ms"],
        lag_max_ms=results["lag_max_ms"],
        peak_open=results["peak_open"],
        rss_at_peak_mb=results["rss_at_peak_mb"],
        rss_max_mb=results["rss_max_mb"],
    )


def measure_streams(infra: Infra, stack_env: Mapping[str, str]) -> list[LoadRun]:
    runs = []
    for load in LOADS:
        print(f"answer streams, {load.label}, on a system of its own...", flush=True)
        started = time.monotonic()
        run = measure_load(infra, load, stack_env)
        f = run.figures
        print(
            f"  {f.streams} streams in {run.seconds:.1f} s ({time.monotonic() - started:.0f} s"
            f" with the system's start): first token +{f.first_token.p99:.1f} ms p99, token"
            f" lag {f.lag.p99:.1f} ms p99, {f.word_problems} streams with word problems,"
            f" {f.unsealed} unsealed, {f.errors_total} errors, gateway {run.rss_at_peak_mb:.0f}"
            f" MB at {run.peak_open} open, {run.system_us:.0f} µs CPU a token",
            flush=True,
        )
        runs.append(run)
    return runs
