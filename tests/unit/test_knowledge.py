"""Help-center retrieval: passage loading, BM25 ranking, offline answers and snippets."""

from pathlib import Path

import pytest

from ai_worker.knowledge import (
    DEFAULT_KB_DIR,
    Hit,
    KnowledgeBase,
    Passage,
    compose_offline_answer,
    load_passages,
    reference_snippet,
)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.from_directory(DEFAULT_KB_DIR)


def _article(hit: Hit) -> str:
    return hit.passage.source.split("#", 1)[0]


def test_shipped_knowledge_base_loads() -> None:
    passages = load_passages(DEFAULT_KB_DIR)
    articles = {p.source.split("#", 1)[0] for p in passages}
    assert len(articles) >= 30
    assert len(passages) > len(articles)
    assert all(p.title and p.source and p.text.strip() for p in passages)
    assert len({p.source for p in passages}) == len(passages)
    assert passages == load_passages(DEFAULT_KB_DIR)


def test_passage_fields() -> None:
    passages = [p for p in load_passages(DEFAULT_KB_DIR) if p.title == "Reset your password"]
    intro, first = passages[0], passages[1]
    assert intro.source == "reset-your-password.md"
    assert intro.section == ""
    assert first.section == "Reset your password from the sign-in page"
    assert first.source == "reset-your-password.md#reset-your-password-from-the-sign-in-page"
    assert first.text.startswith("1. Open the Tidewater sign-in page")
    assert "## " not in first.text and "title:" not in intro.text


@pytest.mark.parametrize(
    ("question", "article"),
    [
        ("How do I reset my password?", "reset-your-password.md"),
        ("How do I enable two-factor authentication?", "enable-two-factor-authentication.md"),
        ("Can I get a refund?", "refunds-and-cancellation.md"),
        ("I lost my phone with the 2FA codes", "recover-account-lost-2fa-device.md"),
        ("How do I connect GitHub?", "github-integration.md"),
    ],
)
def test_search_ranks_expected_article_first(
    kb: KnowledgeBase, question: str, article: str
) -> None:
    hits = kb.search(question)
    assert hits
    assert _article(hits[0]) == article


def test_search_prefers_the_steps_over_the_intro(kb: KnowledgeBase) -> None:
    best = kb.search("How do I reset my password?")[0]
    assert best.passage.section == "Reset your password from the sign-in page"


def test_search_results_are_sorted_positive_and_bounded(kb: KnowledgeBase) -> None:
    hits = kb.search("invoice payment card", k=5)
    assert 0 < len(hits) <= 5
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(s > 0 for s in scores)
    assert len(kb.search("invoice", k=1)) == 1
    assert kb.search("invoice", k=0) == []


@pytest.mark.parametrize("query", ["zxqv blorf", "", "   ", "the and of how do I", "???"])
def test_search_without_known_words_returns_nothing(kb: KnowledgeBase, query: str) -> None:
    assert kb.search(query) == []


def test_len_counts_passages(kb: KnowledgeBase) -> None:
    assert len(kb) == len(load_passages(DEFAULT_KB_DIR))
    assert len(KnowledgeBase([])) == 0
    assert KnowledgeBase([]).search("password") == []


def _write(directory: Path, name: str, content: str) -> None:
    (directory / name).write_text(content, encoding="utf-8")


def test_ranking_is_by_relevance_not_file_order(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "a-office-plants.md",
        "---\ntitle: Office plants\ncategory: Misc\n---\nWater the office plants weekly.\n\n"
        "## Ferns\n\nFerns like shade and humid air.\n",
    )
    _write(
        tmp_path,
        "b-coffee-machine.md",
        "---\ntitle: Coffee machine\ncategory: Misc\n---\nThe kitchen has a coffee machine.\n\n"
        "## Descale the coffee machine\n\n1. Fill the tank with descaler.\n2. Run two cycles.\n",
    )
    _write(tmp_path, "c-no-front-matter.md", "Parking is behind the building.\n")
    kb = KnowledgeBase.from_directory(tmp_path)
    assert len(kb) == 5

    hits = kb.search("How do I descale the coffee machine?")
    assert hits[0].passage.source == "b-coffee-machine.md#descale-the-coffee-machine"
    assert {_article(h) for h in hits} == {"b-coffee-machine.md"}

    assert kb.search("ferns")[0].passage.source == "a-office-plants.md#ferns"
    assert kb.search("descaling")[0].passage.section == "Descale the coffee machine"

    parking = kb.search("where is parking")
    assert [h.passage.title for h in parking] == ["c-no-front-matter"]
    assert parking[0].passage.source == "c-no-front-matter.md"


def test_titles_outweigh_body_mentions(tmp_path: Path) -> None:
    _write(tmp_path, "a.md", "---\ntitle: Holidays\n---\nAsk about invoices at the desk.\n")
    _write(tmp_path, "b.md", "---\ntitle: Invoices\n---\nHow billing works here.\n")
    hits = KnowledgeBase.from_directory(tmp_path).search("invoices")
    assert [h.passage.source for h in hits] == ["b.md", "a.md"]


def test_loader_skips_empty_sections_and_keeps_headings_unique(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "x.md",
        "---\ntitle: X\n---\n\n## Empty\n\n## Notes\nFirst.\n## Notes\nSecond.\n"
        "### Detail\nStill second.\n",
    )
    passages = load_passages(tmp_path)
    assert [p.source for p in passages] == ["x.md#notes", "x.md#notes-1"]
    assert passages[1].text == "Second.\n### Detail\nStill second."


def test_offline_answer_quotes_best_passage_and_lists_see_also(kb: KnowledgeBase) -> None:
    hits = kb.search("How do I reset my password?")
    assert len(hits) == 3
    answer = compose_offline_answer("How do I reset my password?", hits)
    best = hits[0].passage
    assert best.text in answer
    assert f"{best.text} [1]" in answer
    see_also = answer.splitlines()[-1]
    assert see_also.startswith("See also:")
    labels = [f"{h.passage.title} — {h.passage.section}".rstrip(" —") for h in hits]
    positions = [see_also.index(f"[{n}] {label}") for n, label in enumerate(labels, 1) if n > 1]
    assert positions == sorted(positions)
    assert "[1]" not in see_also
    for step in range(1, 6):
        assert f"\n{step}. " in answer


def _hit(title: str, section: str, text: str, score: float = 1.0) -> Hit:
    source = f"{title.lower()}.md"
    return Hit(Passage(title=title, section=section, source=source, text=text), score)


def test_offline_answer_with_one_hit_has_no_see_also() -> None:
    answer = compose_offline_answer("q", [_hit("Intro", "", "Just the intro.")])
    assert "Just the intro. [1]" in answer
    assert "See also" not in answer
    assert "[2]" not in answer


def test_offline_answer_trims_long_passages_at_a_boundary() -> None:
    steps = "".join(f"{n}. Do step number {n} carefully.\n" for n in range(1, 8))
    prose = " ".join(f"Sentence {n} adds some detail about the topic." for n in range(40))
    answer = compose_offline_answer("q", [_hit("Long", "Part", steps + "\n" + prose)])
    body = answer.split("\n\n", 1)[1]
    assert steps.strip() in body  # the numbered steps stay intact
    assert len(body) <= 950
    assert body.endswith("topic. [1]")


def test_offline_answer_without_hits_suggests_rephrasing_or_an_agent() -> None:
    answer = compose_offline_answer("What is the meaning of life?", [])
    assert "[1]" not in answer
    assert "rephrase" in answer
    assert "human agent" in answer
    assert "ticket" in answer


def test_reference_snippet_strips_markdown() -> None:
    passage = Passage(
        title="T",
        section="S",
        source="t.md#s",
        text="1. Click **Settings > Billing**.\n2. Choose `Cancel`.\n\n- See [docs](https://x.y).",
    )
    assert reference_snippet(passage) == "Click Settings > Billing. Choose Cancel. See docs."


def test_reference_snippet_respects_limit_and_word_boundaries() -> None:
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa " * 10
    passage = Passage(title="T", section="", source="t.md", text=words)
    snippet = reference_snippet(passage, limit=40)
    assert len(snippet) <= 40
    assert snippet.endswith("…")
    assert words.startswith(snippet[:-1])
    assert words[len(snippet) - 1] == " "  # the cut falls between words


def test_reference_snippet_of_shipped_passages(kb: KnowledgeBase) -> None:
    for passage in kb.passages:
        snippet = reference_snippet(passage)
        assert 0 < len(snippet) <= 240
        assert "\n" not in snippet
        assert "**" not in snippet
