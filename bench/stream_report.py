"""The answer streams' section of the report, in markdown: the figures of each load against
their targets, and the CPU per delivered token by process. ``splice`` puts the section into a
report written before (``--only-streams`` leaves the other figures as they were)."""

from bench.analysis import verdict
from bench.cpu import LOAD_GENERATOR
from bench.stream_figures import (
    CPU_TARGET_US,
    FIRST_TOKEN_TARGET_MS,
    LAG_TARGET_MS,
    RSS_TARGET_MB,
    Summary,
)
from bench.streams import BESIDE, FIRST_TOKEN_SECONDS, PEOPLE, TOKENS, LoadRun

HEADING = "## Answer streams"


def _ms(s: Summary, target: float) -> str:
    return (
        f"{s.p50:.1f} / {s.p99:.1f} / {s.max:.1f} ({s.count:,})"
        f" {verdict(s.count > 0 and s.p99 <= target)}"
    )


def _errors(errors: dict[str, int]) -> str:
    if not errors:
        return "0"
    kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(errors.items()))
    return f"{sum(errors.values())} ({kinds})"


def _summary(s: Summary) -> str:
    return f"{s.p50:.1f} / {s.p99:.1f} / {s.max:.1f}"


def _rows(run: LoadRun) -> list[str]:
    f, w = run.figures, run.figures.words
    words = (
        f"{f.word_problems} (lost {w.lost}, doubled {w.doubled}, out of order"
        f" {w.out_of_order}; offsets wrong {w.offsets_wrong}, resets {w.resets})"
        f" {verdict(f.word_problems == 0)}"
    )
    share = run.generator_cpu_seconds / run.seconds if run.seconds else 0.0
    tokens = f.tokens_delivered
    generator_us = run.cpu_us.get(LOAD_GENERATOR, 0.0)
    cpu_met = tokens > 0 and run.system_us <= CPU_TARGET_US
    return [
        _ms(f.first_token, FIRST_TOKEN_TARGET_MS)
        + (f", {f.unmeasured} unmeasured" if f.unmeasured else ""),
        _summary(f.to_model),
        _summary(f.from_model),
        _ms(f.lag, LAG_TARGET_MS),
        words,
        f"{f.unsealed} {verdict(f.unsealed == 0)}",
        _errors(f.errors),
        f"{run.rss_at_peak_mb:.0f} at {run.peak_open:,} open (max {run.rss_max_mb:.0f})"
        f" {verdict(0 < run.rss_at_peak_mb <= RSS_TARGET_MB)}",
        f"{run.system_us:.0f} {verdict(cpu_met)}",
        f"{tokens:,} in {f.streams:,} streams, {run.seconds:.1f} s"
        f" ({tokens / run.seconds if run.seconds else 0:,.0f} a second)",
        f"{f.model_peak:,} ({f.model_requests:,} requests)",
        f"{run.generator_cpu_seconds:.1f} s ({share:.0%} of a core), {generator_us:.0f} µs a"
        f" token; loop late {run.lag_p99_ms:.1f} ms p99, {run.lag_max_ms:.1f} max",
    ]


FIGURES = [
    ("added to the first token, ms p50 / p99 / max (streams)", f"p99 <= {FIRST_TOKEN_TARGET_MS:g}"),
    ("... of which POST to the model's request, ms p50 / p99 / max", "-"),
    ("... of which the model's first write to the client, ms p50 / p99 / max", "-"),
    ("token lag, ms p50 / p99 / max (tokens)", f"p99 <= {LAG_TARGET_MS:g}"),
    ("streams with words lost, doubled or out of order", "0"),
    ("answers not sealed", "0"),
    ("errors", "-"),
    ("gateway RSS MB at the peak of open streams", f"<= {RSS_TARGET_MB:g}"),
    ("system CPU µs per delivered token", f"<= {CPU_TARGET_US:g}"),
    ("tokens delivered", "-"),
    ("answers the model wrote at once, at most", "-"),
    ("load generator: CPU, event loop", "-"),
]


def _cpu_cell(run: LoadRun, name: str) -> str:
    return f"{run.cpu_us.get(name, 0.0):.1f} ({run.busiest.get(name, 0.0):.0%})"


def _cpu_row(runs: list[LoadRun], name: str) -> str:
    return f"| {name} | " + " | ".join(_cpu_cell(run, name) for run in runs) + " |"


def _handled(run: LoadRun) -> str:
    streams = run.figures.streams or 1
    return ", ".join(f"`{queue}` {n / streams:.2f}" for queue, n in run.handled.items())


def section(runs: list[LoadRun], measured: str = "") -> list[str]:
    """The section; ``measured``: when, and how loaded the machine was (a sentence)."""
    if not runs:
        return []
    columns = [_rows(run) for run in runs]
    lines = [
        HEADING,
        "",
        (f"{measured} " if measured else "")
        + "Customers POST a question (no `wait`) and at once follow its stream to the `sealed`"
        " event; the AI worker streams each answer through the `openai` SDK from a fake model"
        f" in a process of its own, {TOKENS} tokens `t0 t1 ...` after {FIRST_TOKEN_SECONDS:g} s"
        f" at the load's pace. Each load on a fresh system ({PEOPLE} customers with a chat"
        " each, a few short streams to warm up), the customers starting evenly over its"
        " seconds. Times are `time.monotonic()` in every process: *added to the first token* is"
        " the client's wait from writing the POST to its first word, less the model's own wait"
        " from the request to its first write (the two parts below it: before the model had"
        " the request, and after it wrote its first token); a token's *lag* is when its word"
        " was complete in the client's text less when the model wrote it. Words are checked on"
        " the streams that reached a final event (the others count as not sealed); *errors*"
        " are statuses other than 202 and 200, and exceptions (a stream without a final event"
        " in time). The gateway's RSS is sampled every 100 ms with the count of open streams."
        " CPU is every process's (from `/proc`) between the first customer's start and the"
        " last stream's end, idle work included, divided by the tokens delivered; Postgres and"
        " RabbitMQ are all of their processes on the machine. The load generator (a raw"
        " asyncio protocol on uvloop, a process of its own) is shown with how late its event"
        " loop woke from 10 ms sleeps: if that is large, it limited the figures.",
        "",
        "| figure | target | " + " | ".join(run.load.label for run in runs) + " |",
        "| --- | --- |" + " --- |" * len(runs),
    ]
    for n, (figure, target) in enumerate(FIGURES):
        lines.append(f"| {figure} | {target} | " + " | ".join(c[n] for c in columns) + " |")
    names = list(dict.fromkeys(name for run in runs for name in run.cpu_us if name not in BESIDE))
    lines += [
        "",
        "CPU per delivered token, µs, by process, and in parentheses the most of one core it"
        " used over any second of the load (sampled every 0.5 s): a process near 100 % was"
        " the limit. `system` sums the system's; the fake model and the load generator are"
        " beside it, not counted.",
        "",
        "| process | " + " | ".join(run.load.label for run in runs) + " |",
        "| --- |" + " --- |" * len(runs),
        *(
            f"| {name} | " + " | ".join(_cpu_cell(run, name) for run in runs) + " |"
            for name in names
        ),
        "| **system** | " + " | ".join(f"**{run.system_us:.1f}**" for run in runs) + " |",
        *(
            f"| {name} | " + " | ".join(_cpu_cell(run, name) for run in runs) + " |"
            for name in BESIDE
        ),
        "",
        "Commands and events the services handled per stream, by queue:",
        "",
        *(f"- {run.load.label}: {_handled(run)}" for run in runs),
    ]
    return lines


def splice(report: str, lines: list[str]) -> str:
    """``report`` with its streams section replaced by ``lines`` (added at the end if none)."""
    body = "\n".join(lines) + "\n"
    at = report.find(HEADING + "\n")
    if at < 0:
        return report.rstrip("\n") + "\n\n" + body
    following = report.find("\n## ", at + len(HEADING))
    rest = report[following + 1 :] if following >= 0 else ""
    return report[:at] + body + ("\n" + rest if rest else "")
