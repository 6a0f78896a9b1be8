"""The answer streams' figures, out of what each client saw (``StreamRecord``) and what the model
wrote (``ModelTiming``), all on ``time.monotonic()`` (``CLOCK_MONOTONIC``, one clock for every
process of the machine): the latency the system adds to the first token, each token's lag,
words lost, doubled or out of order, answers not sealed, errors. Pure functions, unit-tested.

The answer is ``t0 t1 ... t<n-1>``, one token a word, so tokens are matched by index: the
model's ``i``-th write against the moment the ``i``-th word was complete in the client's text
(a delta may carry several words, or part of one)."""

import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.sse_client import RESET, StreamRecord

FIRST_TOKEN_TARGET_MS = 50.0
LAG_TARGET_MS = 100.0
RSS_TARGET_MB = 250.0
CPU_TARGET_US = 150.0


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile as the rest of the bench takes it (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


@dataclass(frozen=True)
class Summary:
    """Milliseconds: p50, p99, max, over ``count`` values."""

    p50: float
    p99: float
    max: float
    count: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> "Summary":
        ms = [s * 1000 for s in seconds]
        return cls(percentile(ms, 50), percentile(ms, 99), max(ms, default=0.0), len(ms))


@dataclass(frozen=True)
class ModelTiming:
    """One request to the fake model: when it was received, when each token was written."""

    received: float
    tokens: list[float]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ModelTiming":
        return cls(float(data["received"]), [float(t) for t in data["tokens"]])


def peak_overlap(spans: Sequence[tuple[float, float]]) -> int:
    """The most ``(start, end)`` spans open at one moment (an end before a start at a tie)."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def word_ends(answer: str) -> list[int]:
    """Where each word of ``answer`` ends: the ``i``-th word is complete in a text that begins
    with ``answer[:ends[i]]``."""
    return [m.end() for m in re.finditer(r"\S+", answer)]


def received_times(record: StreamRecord, expected: str, ends: Sequence[int]) -> list[float | None]:
    """When each word of ``expected`` was first complete in the client's text (the deltas
    appended in order; a ``reset`` empties it); None for a word never complete, or complete only
    after the text departed from ``expected``."""
    times: list[float | None] = [None] * len(ends)
    text, good, word = "", 0, 0
    for at, offset, delta in zip(record.times, record.offsets, record.deltas, strict=True):
        if offset == RESET:
            text, good = "", 0
            continue
        text += delta
        end = min(len(text), len(expected))
        if text[good:end] == expected[good:end]:
            good = end
        else:
            while text[good] == expected[good]:
                good += 1
        while word < len(ends) and ends[word] <= good:
            times[word] = at
            word += 1
    return times


def first_token(record: StreamRecord) -> float | None:
    """When the first event with words arrived."""
    for at, offset, delta in zip(record.times, record.offsets, record.deltas, strict=True):
        if offset != RESET and delta:
            return at
    return None


def added_first_token(record: StreamRecord, model: ModelTiming) -> float | None:
    """Seconds the system added to the first token: the client's wait from the POST to its
    first word, less the model's own wait from the request to its first write."""
    first = first_token(record)
    if first is None or not model.tokens:
        return None
    return (first - record.post_sent) - (model.tokens[0] - model.received)


def lags(received: Sequence[float | None], model: ModelTiming) -> list[float]:
    """Per token complete at the client: its arrival less the model's write of it."""
    return [at - wrote for at, wrote in zip(received, model.tokens, strict=False) if at is not None]


@dataclass(frozen=True)
class WordCheck:
    """A stream's text against the answer: words missing, extra (a word twice, or one not in
    the answer), out of order (a word after one it should precede); events whose offset is not
    the length of the text so far; ``reset`` events."""

    lost: int = 0
    doubled: int = 0
    out_of_order: int = 0
    offsets_wrong: int = 0
    resets: int = 0
    text_differs: bool = False

    @property
    def ok(self) -> bool:
        return not (self.text_differs or self.offsets_wrong or self.resets)


def check_words(record: StreamRecord, expected: str) -> WordCheck:
    text, offsets_wrong, resets = "", 0, 0
    for offset, delta in zip(record.offsets, record.deltas, strict=True):
        if offset == RESET:
            text, resets = "", resets + 1
            continue
        offsets_wrong += offset != len(text)
        text += delta
    words, seen = expected.split(), text.split()
    want, got = Counter(words), Counter(seen)
    position = {word: n for n, word in enumerate(words)}
    order = [position[word] for word in seen if word in position]
    return WordCheck(
        lost=sum((want - got).values()),
        doubled=sum((got - want).values()),
        out_of_order=sum(1 for a, b in itertools.pairwise(order) if b < a),
        offsets_wrong=offsets_wrong,
        resets=resets,
        text_differs=text != expected,
    )


def error_of(record: StreamRecord) -> str | None:
    """The kind of a stream's error (an HTTP status not 202/200, an exception), else None."""
    if record.post_status not in (None, 202):
        return f"POST {record.post_status}"
    if record.stream_status not in (None, 200):
        return f"GET {record.stream_status}"
    if record.error:
        return record.error.split(":", 1)[0]
    return None


@dataclass(frozen=True)
class StreamFigures:
    streams: int
    tokens_delivered: int
    """Words of the answer complete, in order, at the clients: the CPU's divisor."""
    first_token: Summary
    """Added to the first token, per stream."""
    to_model: Summary
    """Of which from the POST to the model's receiving the request, per stream."""
    from_model: Summary
    """Of which from the model's first write to the client's first word, per stream."""
    lag: Summary
    """Per token."""
    unmeasured: int
    """Streams without a first token or without the model's timings."""
    word_problems: int
    """Streams, among those that reached a final event, whose text is not the answer, or
    with an offset wrong or a ``reset``."""
    words: WordCheck
    """Summed over those streams."""
    unsealed: int
    errors: dict[str, int]
    model_requests: int
    """Requests the model received for the streams (more than one a stream: retries)."""
    model_peak: int
    """The most answers the model was writing at once (from a request to its last token)."""

    @property
    def errors_total(self) -> int:
        return sum(self.errors.values())


def _sum(checks: Sequence[WordCheck]) -> WordCheck:
    return WordCheck(
        lost=sum(c.lost for c in checks),
        doubled=sum(c.doubled for c in checks),
        out_of_order=sum(c.out_of_order for c in checks),
        offsets_wrong=sum(c.offsets_wrong for c in checks),
        resets=sum(c.resets for c in checks),
        text_differs=any(c.text_differs for c in checks),
    )


def analyse(
    records: Sequence[StreamRecord],
    timings: dict[str, list[ModelTiming]],
    expected: str,
) -> StreamFigures:
    """The figures of one load; ``timings``: the model's requests by the question's tag (the
    last one is the attempt whose answer was kept)."""
    ends = word_ends(expected)
    first: list[float] = []
    to_model: list[float] = []
    from_model: list[float] = []
    lag: list[float] = []
    delivered = unmeasured = unsealed = 0
    checks: list[WordCheck] = []
    errors: Counter[str] = Counter()
    for record in records:
        received = received_times(record, expected, ends)
        delivered += sum(at is not None for at in received)
        attempts = timings.get(record.tag)
        added = added_first_token(record, attempts[-1]) if attempts else None
        if attempts is None or added is None:
            unmeasured += 1
        else:
            model = attempts[-1]
            first.append(added)
            to_model.append(model.received - record.post_sent)
            from_model.append(added - to_model[-1])
            lag += lags(received, model)
        if record.final_event is not None:
            checks.append(check_words(record, expected))
        if record.final_event != "sealed" or record.ai_response != expected:
            unsealed += 1
        if (error := error_of(record)) is not None:
            errors[error] += 1
    bad = [c for c in checks if not c.ok]
    return StreamFigures(
        streams=len(records),
        tokens_delivered=delivered,
        first_token=Summary.of(first),
        to_model=Summary.of(to_model),
        from_model=Summary.of(from_model),
        lag=Summary.of(lag),
        unmeasured=unmeasured,
        word_problems=len(bad),
        words=_sum(bad),
        unsealed=unsealed,
        errors=dict(errors),
        model_requests=sum(len(timings.get(r.tag, [])) for r in records),
        model_peak=peak_overlap(
            [
                (t.received, t.tokens[-1] if t.tokens else t.received)
                for r in records
                for t in timings.get(r.tag, [])
            ]
        ),
    )
