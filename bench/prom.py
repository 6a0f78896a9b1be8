"""Numbers from the Prometheus ``/metrics`` of each process: a snapshot before and after a
measured run, their difference, and what a histogram says about its quantiles."""

import math
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
Snapshot = dict[tuple[str, Labels], float]
"""Every sample of a scrape: (sample name, sorted labels) -> value."""


def parse(text: str) -> Snapshot:
    """The samples of a Prometheus text exposition."""
    snapshot: Snapshot = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            snapshot[sample.name, tuple(sorted(sample.labels.items()))] = float(sample.value)
    return snapshot


def scrape(url: str) -> Snapshot:
    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    return parse(response.text)


def delta(after: Snapshot, before: Snapshot) -> Snapshot:
    """What the counters and histograms gained between two scrapes of one process."""
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def _matches(labels: Labels, match: Mapping[str, str]) -> bool:
    have = dict(labels)
    return all(have.get(name) == value for name, value in match.items())


def total(snapshot: Snapshot, name: str, **match: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``match``."""
    return sum(v for (n, labels), v in snapshot.items() if n == name and _matches(labels, match))


def by_label(snapshot: Snapshot, name: str, label: str) -> dict[str, float]:
    """The samples called ``name``, summed by the value of one of their labels."""
    sums: dict[str, float] = {}
    for (n, labels), value in snapshot.items():
        key = dict(labels).get(label)
        if n == name and key is not None:
            sums[key] = sums.get(key, 0.0) + value
    return sums


@dataclass(frozen=True)
class Histogram:
    buckets: list[tuple[float, float]]
    """(upper bound, cumulative count), ascending, the last bound ``inf``."""
    count: float
    sum: float

    @property
    def mean(self) -> float | None:
        return self.sum / self.count if self.count else None

    def quantile_bounds(self, q: float) -> tuple[float, float] | None:
        """The bucket the ``q`` quantile falls in: (lower bound, upper bound], the upper
        ``inf`` past the last finite bound. None without observations."""
        observed = self.buckets[-1][1] if self.buckets else 0.0
        if observed <= 0:
            return None
        rank = q * observed
        lower, below = 0.0, 0.0
        for bound, cumulative in self.buckets:
            if cumulative >= rank and cumulative > below:
                return lower, bound
            lower, below = bound, cumulative
        return lower, math.inf


def histogram(snapshot: Snapshot, name: str, **match: str) -> Histogram:
    """The histogram ``name`` summed over its series whose labels include ``match``."""
    cumulative: dict[float, float] = {}
    for (n, labels), value in snapshot.items():
        if n == f"{name}_bucket" and _matches(labels, match):
            bound = float(dict(labels)["le"])
            cumulative[bound] = cumulative.get(bound, 0.0) + value
    return Histogram(
        buckets=sorted(cumulative.items()),
        count=total(snapshot, f"{name}_count", **match),
        sum=total(snapshot, f"{name}_sum", **match),
    )


def prefixed(snapshot: Snapshot, label: str, prefix: str) -> Snapshot:
    """The samples whose ``label`` starts with ``prefix`` (e.g. the gateway's API routes)."""
    return {
        key: value
        for key, value in snapshot.items()
        if dict(key[1]).get(label, "").startswith(prefix)
    }
