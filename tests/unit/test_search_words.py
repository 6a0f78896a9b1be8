"""The inner words of a search term: the words any text containing the term has whole."""

import pytest

from users_service.users.search import inner_words


@pytest.mark.parametrize(
    ("term", "words"),
    [
        ("alan.lovelace.4242@", ["4242", "lovelace"]),  # 'alan' may end a longer word
        ("hopper", []),
        ("lovelace.4242", []),  # each word may go on beyond the term
        (".ada.", ["ada"]),
        ("ADA.Lovelace.X", ["lovelace"]),  # lowercased
        ("a..b--c__d", ["b", "c"]),  # a run of separators is one
        ("ada lovelace ", ["lovelace"]),
        ("%_\\", []),
        ("", []),
    ],
)
def test_inner_words(term: str, words: list[str]) -> None:
    assert inner_words(term) == words


@pytest.mark.parametrize("term", ["josé.lovelace.1@", "IRIS.lovelace.1@"])
def test_terms_postgres_may_lowercase_otherwise_have_none(term: str) -> None:
    assert inner_words(term) == []
