"""``make bench``: starts a throwaway copy of the system (its own database and vhost, every
service its own process, as ``make run``), loads it from outside over HTTP, prints one report
and writes it to ``bench/report.md``.

Measured, each with a closed-loop client (warm-up, then the measured run on fresh
connections), with every process's Prometheus ``/metrics`` scraped just before and after the
measured run:

- ``GET /api/users/{id}``, ``GET /api/tickets/{id}`` at concurrency 1 and 32, and the message
  pipeline (POST to sealed) at 1, 8 and 32; the pipeline twice, answered offline and through
  the ``openai`` SDK from an instant fake LLM (``bench.fake_llm``; ``--no-llm`` skips it).
  The RPC must keep calls in flight at once: a serialized client gains about 1.2x from 1 to
  32 on a 2-core machine, a concurrent one about 1.9x; the target is at least 1.6x.
- Lists and search (users, tickets with filters; first page and a page half way down) with
  users and tickets seeded straight into Postgres at each size of ``--rows``: p99 at most
  20 ms, and no slower at the largest size than at the smallest.
- SQL per request per service, counted by the services (``db_statements_total``,
  ``db_transactions_total``): at most 2 statements.
- Answer streams (``bench.streams``; ``--no-streams`` skips them, ``--only-streams`` measures
  only them and puts their section into the report as it was): customers who POST a question
  and follow its stream to the ``sealed`` event while the AI worker streams the answer from a
  timed fake model at a real model's pace, 200 starting within 2 s at 40 tokens a second and
  1,000 within 10 s at 8, each load on a fresh system: the latency added to the first token,
  token lag, words lost, unsealed answers, errors, the gateway's RSS and CPU per token.

Alongside the client's latency, the server side's from the processes' histograms: the
gateway's HTTP time and the service's handler time of the command's queue.
"""

import argparse
import asyncio
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx

from bench.analysis import parse_rows, rows_label
from bench.llm import fake_llm
from bench.prober import MODULES, Bench, rss_mb
from bench.probes import Case, Probe, Sized
from bench.seed import Seeder, Targets, seeded_email, targets
from bench.stream_report import section, splice
from bench.streams import LoadRun, measure_streams
from bench.tables import cpu_table, lists_table, request_table, sql_table
from contracts.chat import AddMessage
from contracts.tickets import GetTicket, ListTickets
from contracts.users import GetUser, ListUsers
from deploy.sandbox import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    Infra,
    Stack,
    provide_infra,
    run_stack,
)

REPORT = Path(__file__).parent / "report.md"
PAGE = 50
COMMON_TERM = "hopper"  # a last name: about one seeded user in ten
RARE_TERM = seeded_email(4242).split("@")[0] + "@"  # one seeded user, at every size


STACK_ENV = {
    "LOG_LEVEL": "WARNING",
    "RATE_LIMIT_MESSAGES": "1000000/minute",
    # The sweeper's periodic query would land in some measured windows; no answer is left
    # pending for it to find.
    "SWEEP_INTERVAL_SECONDS": "3600",
    "ACCESS_TOKEN_TTL": "7200",  # one token for the whole run
}
LLM_PIPELINE = "POST message, wait sealed, openai SDK"
PIPELINE_CONCURRENCY = (1, 8, 32)
"""The pipeline at 1 (latency alone), 32 (the most it seals a second: a closed loop at saturation
queues, so its latency is mostly waiting) and in between, where both count."""


def llm_pipeline(infra: Infra, *, warmup: float, seconds: float) -> list[Probe]:
    """The pipeline with the AI worker answering through the ``openai`` SDK, streamed over HTTP
    from an instant fake LLM: what a deployment with a model pays, but the model's own time."""
    with (
        fake_llm() as (base_url, llm_pid),
        tempfile.TemporaryDirectory() as workdir,
        run_stack(
            infra,
            Path(workdir),
            **STACK_ENV,
            OPENAI_API_KEY="sk-bench",
            OPENAI_BASE_URL=base_url,
            AI_MODEL="fake-model",
        ) as stack,
        httpx.Client(base_url=stack.base_url, timeout=10) as api,
    ):
        auth = {"Authorization": f"Bearer {_token(api, ADMIN_EMAIL, ADMIN_PASSWORD)}"}
        bench = Bench(stack, auth, warmup=warmup, seconds=seconds, beside={"fake LLM": llm_pid})
        chat_id = api.post("/api/chats", headers=auth).json()["id"]
        case = _post_case(LLM_PIPELINE, chat_id)
        return [bench.probe(case, concurrency) for concurrency in PIPELINE_CONCURRENCY]


def _post_case(label: str, chat_id: str) -> Case:
    return Case(
        label,
        f"/api/chats/{chat_id}/messages?wait=10",
        "chat",
        AddMessage.queue,
        method="POST",
        body=b'{"content": "How do I reset my password?"}',
        expect=201,
        settle=1.0,
    )


def _token(api: httpx.Client, email: str, password: str) -> str:
    response = api.post("/api/auth/token", data={"username": email, "password": password})
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def list_cases(at: Targets) -> list[Case]:
    """The list and search requests; the same labels at every size (the cursors differ)."""
    users, tickets = ("users", ListUsers.queue), ("tickets", ListTickets.queue)
    return [
        Case("list users, first page", f"/api/users?limit={PAGE}", *users),
        Case(
            "list users, page at row n/2",
            f"/api/users?limit={PAGE}&cursor={at.users_deep_cursor}",
            *users,
        ),
        Case(
            f"search users, q={COMMON_TERM} (~10%)",
            f"/api/users?q={COMMON_TERM}&limit={PAGE}",
            *users,
        ),
        Case(
            f"search users, q={RARE_TERM} (1 row)",
            f"/api/users?q={quote(RARE_TERM)}&limit={PAGE}",
            *users,
        ),
        Case("list tickets, first page", f"/api/tickets?limit={PAGE}", *tickets),
        Case(
            "list tickets, page at row n/2",
            f"/api/tickets?limit={PAGE}&cursor={at.tickets_deep_cursor}",
            *tickets,
        ),
        Case(
            "list tickets, status=in_progress",
            f"/api/tickets?status=in_progress&limit={PAGE}",
            *tickets,
        ),
        Case(
            "list tickets, issue_type+priority",
            f"/api/tickets?issue_type=harmful_content&priority=urgent&limit={PAGE}",
            *tickets,
        ),
        Case(
            "list tickets, user_id=<a customer>",
            f"/api/tickets?user_id={at.ticket_owner}&limit={PAGE}",
            *tickets,
        ),
    ]


def request_path(bench: Bench, api: httpx.Client, auth: dict[str, str]) -> list[Probe]:
    user_id = api.get("/api/users/me", headers=auth).json()["id"]
    # The admin's own chat and message, and a ticket on it, for the read paths.
    chat_id = api.post("/api/chats", headers=auth).json()["id"]
    message = api.post(
        f"/api/chats/{chat_id}/messages?wait=10", json={"content": "How do I export?"}, headers=auth
    ).json()
    ticket_id = api.post(
        "/api/tickets", json={"message_id": message["id"], "issue_type": "other"}, headers=auth
    ).json()["id"]
    reads = [
        Case("GET /api/users/{id}", f"/api/users/{user_id}", "users", GetUser.queue),
        Case("GET /api/tickets/{id}", f"/api/tickets/{ticket_id}", "tickets", GetTicket.queue),
    ]
    pipeline = _post_case("POST message, wait sealed", chat_id)
    return [bench.probe(case, concurrency) for case in reads for concurrency in (1, 32)] + [
        bench.probe(pipeline, concurrency) for concurrency in PIPELINE_CONCURRENCY
    ]


def lists(bench: Bench, dsn: str, sizes: list[int], concurrency: int) -> list[Sized]:
    seeder, measured = Seeder(dsn), []
    for rows in sizes:
        growth = asyncio.run(seeder.grow(rows))
        steps = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in growth.steps.items())
        print(
            f"seeded {rows_label(rows)} users and {rows_label(rows)} tickets in"
            f" {growth.seconds:.1f}s ({steps}); measuring...",
            flush=True,
        )
        cases = list_cases(asyncio.run(targets(dsn, rows)))
        for case in cases:
            bench.check(case)
        probes = [bench.probe(case, concurrency, rows=rows) for case in cases]
        measured.append(Sized(growth, probes))
    return measured


def run(
    stack: Stack,
    *,
    warmup: float,
    seconds: float,
    sizes: list[int],
    list_concurrency: int,
    with_llm: list[Probe],
    streams: list[LoadRun],
    streams_note: str,
) -> list[str]:
    load_before = os.getloadavg()[0]
    with httpx.Client(base_url=stack.base_url, timeout=10) as api:
        auth = {"Authorization": f"Bearer {_token(api, ADMIN_EMAIL, ADMIN_PASSWORD)}"}
        bench = Bench(stack, auth, warmup=warmup, seconds=seconds)
        path = request_path(bench, api, auth) + with_llm
    sized = lists(bench, stack.infra.dsn, sizes, list_concurrency)
    load_after = os.getloadavg()[0]
    lines = [
        f"# Benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"{platform.node()}: Python {platform.python_version()}, {os.cpu_count()} cores; all on"
        f" this machine, Postgres and RabbitMQ shared with whatever else runs on it (timings"
        f" are noisy when something does: the 1-minute load average, this bench's own load"
        f" included, was {load_before:.1f} as the measuring began and {load_after:.1f} as it"
        f" ended); closed loop, {warmup:g} s warm-up then {seconds:g} s"
        " measured. The pipeline rows' rate is messages sealed per second, their latency"
        " POST-to-sealed. `POST message, wait sealed` has the AI worker answer offline (no"
        " LLM): the system alone. `POST message, wait sealed, openai SDK` has it answer"
        " through the `openai` SDK, streamed over HTTP from an instant fake LLM in a process"
        " of its own (measured first, on a system of its own): what a deployment with a model"
        " pays, but the model's time.",
        "",
        "## Request path",
        "",
        *request_table(path),
        "",
        *cpu_table(path),
        "",
        *lists_table(sized, list_concurrency),
        "",
        *sql_table(path, sized),
        "",
        "| process | RSS MB after the run |",
        "| --- | --- |",
    ]
    for module in MODULES.values():
        lines.append(f"| {module} | {rss_mb(stack.service_pid(module)):.0f} |")
    if streams:
        lines += ["", *section(streams, streams_note)]
    return lines


def measured_streams(infra: Infra) -> tuple[list[LoadRun], str]:
    """The answer streams' loads, and a sentence on when and how loaded the machine was."""
    load_before = os.getloadavg()[0]
    runs = measure_streams(infra, STACK_ENV)
    return runs, (
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; the 1-minute load average was"
        f" {load_before:.1f} before and {os.getloadavg()[0]:.1f} after."
    )


def only_streams(infra: Infra) -> None:
    """Measure the answer streams and put their section into the report written before."""
    started = time.monotonic()
    lines = section(*measured_streams(infra))
    old = REPORT.read_text() if REPORT.exists() else "# Benchmark\n"
    REPORT.write_text(splice(old, lines))
    took = time.monotonic() - started
    print("\n" + "\n".join(lines) + f"\n\n(written to {REPORT}; {took:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument(
        "--rows",
        type=parse_rows,
        default="10000,1000000",
        help="sizes to seed and measure the lists at, ascending ('' skips the lists;"
        " default %(default)s)",
    )
    parser.add_argument("--list-concurrency", type=int, default=1)
    parser.add_argument(
        "--no-llm", action="store_true", help="skip the pipeline through the openai SDK"
    )
    streams = parser.add_mutually_exclusive_group()
    streams.add_argument("--no-streams", action="store_true", help="skip the answer streams")
    streams.add_argument(
        "--only-streams",
        action="store_true",
        help="measure only the answer streams (the rest of the report is kept as it was)",
    )
    args = parser.parse_args()
    started = time.monotonic()
    with provide_infra() as infra:
        if args.only_streams:
            only_streams(infra)
            return
        with_llm: list[Probe] = []
        if not args.no_llm:
            print("the pipeline through the openai SDK, on a system of its own...", flush=True)
            with_llm = llm_pipeline(infra, warmup=args.warmup, seconds=args.seconds)
            started = time.monotonic()
        runs, note = ([], "") if args.no_streams else measured_streams(infra)
        if runs:
            started = time.monotonic()
        with (
            tempfile.TemporaryDirectory() as workdir,
            run_stack(infra, Path(workdir), **STACK_ENV) as stack,
        ):
            print(f"system up in {time.monotonic() - started:.1f}s; measuring...", flush=True)
            lines = run(
                stack,
                warmup=args.warmup,
                seconds=args.seconds,
                sizes=args.rows,
                list_concurrency=args.list_concurrency,
                with_llm=with_llm,
                streams=runs,
                streams_note=note,
            )
    report = "\n".join(lines) + "\n"
    REPORT.write_text(report)
    print("\n" + report + f"\n(written to {REPORT})")


if __name__ == "__main__":
    main()
