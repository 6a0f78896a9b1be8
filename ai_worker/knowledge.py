"""Help-center retrieval: markdown articles split into passages, BM25 search, offline answers."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN_PLUS

DEFAULT_KB_DIR = Path(__file__).parent / "knowledge_base"

# Title and heading tokens are repeated in the indexed text so they outweigh body mentions.
TITLE_WEIGHT = 3
SECTION_WEIGHT = 2
# Intros summarise the whole article, so they match its keywords without holding the steps;
# a slight handicap lets an equally matching section (the actual answer) rank above them.
INTRO_WEIGHT = 0.85
ANSWER_LIMIT = 900

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_STOPWORDS = frozenset(STOPWORDS_EN_PLUS)
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*+])\s+")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)^---[ \t]*$\n?", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Passage:
    """One retrievable piece of an article: its intro or one ``## `` section."""

    title: str
    section: str
    source: str
    text: str

    @property
    def label(self) -> str:
        """Human-readable name: the title, plus the section heading if there is one."""
        return f"{self.title} — {self.section}" if self.section else self.title


@dataclass(frozen=True)
class Hit:
    """A passage returned by a search, with its BM25 score."""

    passage: Passage
    score: float


def _slug(heading: str) -> str:
    """URL fragment for a heading: lowercase words joined by hyphens."""
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def _split_front_matter(raw: str) -> tuple[dict[str, str], str]:
    """Return the ``key: value`` front matter (empty if absent or unterminated) and the body."""
    match = _FRONT_MATTER.match(raw)
    if match is None:
        return {}, raw
    pairs = (line.partition(":") for line in match.group(1).splitlines())
    meta = {k.strip().lower(): v.strip().strip("\"'") for k, sep, v in pairs if sep}
    return meta, raw[match.end() :]


def _article_passages(path: Path) -> Iterator[Passage]:
    """Yield the intro passage and one passage per ``## `` section of one article."""
    meta, body = _split_front_matter(path.read_text(encoding="utf-8"))
    title = meta.get("title") or path.stem
    heading, chunk = "", list[str]()
    seen: dict[str, int] = {}
    for line in [*body.splitlines(), "## "]:  # sentinel heading flushes the last section
        if not line.startswith("## "):
            chunk.append(line)
            continue
        text = "\n".join(chunk).strip()
        if text:
            fragment = _slug(heading)
            source = f"{path.name}#{fragment}" if heading and fragment else path.name
            seen[source] = seen.get(source, 0) + 1
            if seen[source] > 1:  # repeated heading: keep sources unique like GitHub anchors
                source = f"{source}-{seen[source] - 1}"
            yield Passage(title=title, section=heading, source=source, text=text)
        heading, chunk = line[3:].strip(), []


def load_passages(directory: Path) -> list[Passage]:
    """Load every ``*.md`` article in ``directory`` (sorted by file name) as passages."""
    return [p for path in sorted(directory.glob("*.md")) for p in _article_passages(path)]


def _stem(word: str) -> str:
    """Strip common English inflections, just enough for 'refunds'/'refunded' to meet 'refund'."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]  # resetting -> reset
    return word[:-1] if word.endswith("e") and len(word) > 3 else word  # enable ~ enabled


def _tokenize(text: str) -> list[str]:
    """Lowercase word tokens with English stopwords removed and light stemming applied."""
    words = (w.replace("'", "") for w in _TOKEN.findall(text.lower()))
    return [_stem(w) for w in words if len(w) > 1 and w not in _STOPWORDS]


class KnowledgeBase:
    """A BM25 index over help-center passages."""

    def __init__(self, passages: Sequence[Passage]) -> None:
        """Index the passages; titles and headings weigh more than body text."""
        self.passages: tuple[Passage, ...] = tuple(passages)
        self._retriever: bm25s.BM25 | None = None
        self._prior = np.array([1.0 if p.section else INTRO_WEIGHT for p in self.passages])
        if not self.passages:
            return
        corpus = [
            _tokenize(f"{p.title}\n" * TITLE_WEIGHT + f"{p.section}\n" * SECTION_WEIGHT + p.text)
            for p in self.passages
        ]
        self._retriever = bm25s.BM25()
        self._retriever.index(corpus, show_progress=False)

    @classmethod
    def from_directory(cls, directory: Path = DEFAULT_KB_DIR) -> KnowledgeBase:
        """Build a knowledge base from a directory of markdown articles."""
        return cls(load_passages(directory))

    def __len__(self) -> int:
        """Number of indexed passages."""
        return len(self.passages)

    def search(self, query: str, k: int = 3) -> list[Hit]:
        """Return up to ``k`` passages with a positive score, best first."""
        if self._retriever is None or k <= 0:
            return []
        vocab: dict[str, int] = self._retriever.vocab_dict
        tokens = [t for t in dict.fromkeys(_tokenize(query)) if t in vocab]
        if not tokens:
            return []
        scores = np.asarray(self._retriever.get_scores(tokens), dtype=np.float64) * self._prior
        # Stable sort on the negated scores keeps ties in passage order, so results are repeatable.
        order = np.argsort(-scores, kind="stable")[:k]
        return [Hit(self.passages[i], float(scores[i])) for i in order if scores[i] > 0]


def _units(text: str) -> Iterator[str]:
    """Split markdown into pieces that may be dropped from the end: sentences, items, lists."""
    lines = text.splitlines(keepends=True)
    for numbered, group in groupby(lines, key=lambda line: bool(_NUMBERED.match(line))):
        if numbered:
            yield "".join(group)  # a procedure stays whole: half a list of steps would mislead
            continue
        for line in group:
            yield from [line] if _LIST_ITEM.match(line) else re.split(r"(?<=[.!?] )", line)


def _trim(text: str, limit: int = ANSWER_LIMIT) -> str:
    """Cut markdown to about ``limit`` characters at a sentence or list-item boundary."""
    if len(text) <= limit:
        return text
    kept = ""
    for unit in _units(text):
        if kept and len(kept) + len(unit) > limit:
            break
        kept += unit
    return kept.rstrip()


def compose_offline_answer(question: str, hits: Sequence[Hit]) -> str:
    """Answer from the passages alone; citation ``[n]`` refers to ``hits[n - 1]``."""
    if not hits:
        return (
            "Sorry, I couldn't find anything about that in our help center. "
            "Could you rephrase your question? You can also ask for a human agent, "
            "and we'll file a ticket for you."
        )
    best = hits[0].passage
    parts = [
        f'Here is what our help center says in "{best.label}":',
        f"{_trim(best.text)} [1]",
    ]
    if len(hits) > 1:
        others = "; ".join(f"[{n}] {hit.passage.label}" for n, hit in enumerate(hits[1:], 2))
        parts.append(f"See also: {others}")
    return "\n\n".join(parts)


def _plain(text: str) -> str:
    """Flatten markdown to one line of plain text."""
    lines = (_LIST_ITEM.sub("", re.sub(r"^\s*#+\s+", "", line)) for line in text.splitlines())
    flat = " ".join(line.strip() for line in lines if line.strip())
    flat = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", flat)  # [label](url) -> label
    flat = re.sub(r"\*\*|__|`|(?<!\w)[*_](?=\w)|(?<=\w)[*_](?!\w)", "", flat)
    return re.sub(r"\s+", " ", flat).strip()


@functools.lru_cache(maxsize=4096)
def reference_snippet(passage: Passage, limit: int = 240) -> str:
    """One line of plain text from the passage, cut at a word boundary with an ellipsis.
    (Remembered: the passages do not change, and every answer cites some.)"""
    text = _plain(passage.text)
    if len(text) <= limit:
        return text
    room = max(limit - 1, 0)  # one character is left for the ellipsis
    head = text[:room]
    if text[room] != " " and " " in head:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:-—") + "…"
