"""What the system's processes did over a streams load: their CPU from ``/proc``, sampled every
half second from a thread of the bench's own process (idle meanwhile: the load generator runs in
a process of its own), and the commands and events each service handled (its ``/metrics``,
scraped as the load starts and ends)."""

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from bench import cpu
from bench.prom import Snapshot, by_label, delta, scrape

SAMPLE_EVERY = 0.5


def busiest(samples: list[tuple[float, dict[str, float]]], window: float) -> dict[str, float]:
    """Per process, the most of one core it used over any ``window`` seconds (0.93: 93 %),
    from ``(time, CPU seconds so far)`` samples; each window from a sample to the first one at
    least ``window`` later."""
    most: dict[str, float] = {}
    for n, (start, before) in enumerate(samples):
        later = next(((t, s) for t, s in samples[n + 1 :] if t - start >= window), None)
        if later is None:
            break
        end, after = later
        for name, seconds in after.items():
            share = (seconds - before.get(name, 0.0)) / (end - start)
            most[name] = max(most.get(name, 0.0), share)
    return most


def handled(deltas: Mapping[str, Snapshot]) -> dict[str, float]:
    """Commands and events handled in the window, by queue, over every process."""
    counts: dict[str, float] = {}
    for gained in deltas.values():
        for name in ("rpc_handler_duration_seconds_count", "event_handler_duration_seconds_count"):
            for queue, n in by_label(gained, name, "queue").items():
                counts[queue] = counts.get(queue, 0.0) + n
    return {queue: n for queue, n in sorted(counts.items()) if n > 0}


@dataclass
class Meter:
    processes: cpu.Processes
    metrics: dict[str, str]
    """Each process's ``/metrics`` URL, by name."""
    samples: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    extra: dict[str, list[int]] = field(default_factory=dict)
    """More processes to follow, by name (the load generator's, once started)."""
    _before: dict[str, Snapshot] = field(default_factory=dict)
    _deltas: dict[str, Snapshot] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _sample(self) -> None:
        self.samples.append(
            (time.monotonic(), cpu.snapshot(lambda: {**self.processes(), **self.extra}))
        )

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            self._sample()

    def start(self) -> None:
        self._before = {name: scrape(url) for name, url in self.metrics.items()}
        self._sample()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        self._deltas = {
            name: delta(scrape(url), self._before[name]) for name, url in self.metrics.items()
        }

    @property
    def used(self) -> dict[str, float]:
        """CPU seconds of each process between start and stop."""
        (_, first), (_, last) = self.samples[0], self.samples[-1]
        return {name: last[name] - first.get(name, 0.0) for name in last}

    @property
    def handled(self) -> dict[str, float]:
        return handled(self._deltas)
