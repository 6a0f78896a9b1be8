"""CPU time by process, read from ``/proc``: what each process of the system, and Postgres,
RabbitMQ, the fake LLM and the load generator beside it, spent on the requests of a measured
run. Their sum bounds the rate (two cores give 2,000 ms a second) and says which process to
look at first; the floors in ``docs/performance.md`` (CPU per request, all processes) are measured
the same way. Seconds of CPU are the machine's: in its slow phases every one of them does less,
so compare processes within a run, and runs only at the same pace."""

import os
from collections.abc import Callable, Mapping
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
LOAD_GENERATOR = "load generator"
"""The group of the bench's own process, which sends the requests: not part of the system."""

Processes = Callable[[], Mapping[str, list[int]]]
"""The pids of each process group by name, looked up at each snapshot (Postgres starts and
ends backends)."""


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far; 0 if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces and parentheses
    return (int(fields[11]) + int(fields[12])) / TICK


def pids_named(command: str) -> list[int]:
    """The pids whose command name (``/proc/<pid>/comm``) is ``command``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == command:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def snapshot(processes: Processes) -> dict[str, float]:
    """CPU seconds so far of each group, as ``{name: seconds}``."""
    return {name: sum(map(cpu_seconds, pids)) for name, pids in processes().items()}


def system(used: Mapping[str, float]) -> float:
    """The sum of ``used`` over every group but the load generator: what the system spent."""
    return sum(ms for name, ms in used.items() if name != LOAD_GENERATOR)


def per_request(
    before: Mapping[str, float], after: Mapping[str, float], requests: int
) -> dict[str, float]:
    """Milliseconds of CPU per request of each group between two snapshots."""
    if not requests:
        return {}
    return {name: (after[name] - before.get(name, 0.0)) * 1000 / requests for name in after}
