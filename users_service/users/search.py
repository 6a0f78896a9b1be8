"""Searching users by a substring of their email or name (``q``), at any size.

A search is a case-insensitive substring match, ``ILIKE '%q%'``, which trigram indexes serve.
A trigram index answers in a time that grows with the table when the term is made of common
words: the trigrams of ``alan`` and ``lovelace`` in ``alan.lovelace.4242@`` each stand in a
tenth of the emails, and Postgres reads all of their postings to find the one row.

The term's *inner words* help: its runs of letters and digits with a separator on both sides
within the term (``lovelace`` and ``4242`` here; ``alan`` may be the end of a longer word, so
not it). Any text that contains the term has each of them as a whole word. The words of every
email and name are indexed (GIN over an array), so a term with inner words is looked up by its
rarest word, in a time that does not grow with the table, and Postgres keeps statistics of the
words to choose between that index and walking the newest users (a common word). The substring
match is still what decides; the words only narrow where it looks. A term without inner words
(``hopper``, ``lovelace.42``) is served by the trigram indexes as before.

Both sides split words the same way: the text lowercased by Postgres, then cut at every
character that is not an ASCII letter or digit. The term's words are taken in Python, so only
from a term whose lowercase Python and Postgres agree on: ASCII, without a capital ``I`` (which
the Turkic locales lowercase to a dotless i). Any other term is served by trigrams alone.
"""

import re

from sqlalchemy import (
    ColumnElement,
    SQLColumnExpression,
    Text,
    and_,
    bindparam,
    func,
    literal_column,
)
from sqlalchemy.dialects.postgresql import ARRAY

SEPARATORS = "[^a-z0-9]+"
_WORD = re.compile("[a-z0-9]+")


def words_of(text: SQLColumnExpression[str]) -> ColumnElement[list[str]]:
    """The words of ``text`` lowercased: its runs of ASCII letters and digits (an expression an
    index is built on, so it must be written the same way wherever it is used)."""
    return func.regexp_split_to_array(
        func.lower(text), literal_column(f"'{SEPARATORS}'"), type_=ARRAY(Text)
    )


def inner_words(term: str) -> list[str]:
    """The words every text containing ``term`` has whole (see the module's docstring)."""
    if not term.isascii() or "I" in term:
        return []
    lowered = term.lower()
    bounded = {
        match.group()
        for match in _WORD.finditer(lowered)
        if match.start() > 0 and match.end() < len(lowered)
    }
    return sorted(bounded)


def contains(text: SQLColumnExpression[str], term: str, pattern: str) -> ColumnElement[bool]:
    """``text ILIKE pattern`` (``pattern`` is ``%term%``, escaped), through the words index when
    ``term`` has inner words.

    Then it is written ``lower(text) LIKE lower(pattern)``, as Postgres evaluates ILIKE, so the
    trigram index cannot serve it: together, the two indexes make a slower plan than either.
    Which of the words index and the newest-first walk serves it depends on how common the
    words are, so the statement is planned for its values each time (``DB_PLAN_CACHE_MODE``)."""
    words = inner_words(term)
    if not words:
        return text.ilike(pattern, escape="\\")
    return and_(
        func.lower(text).like(func.lower(pattern), escape="\\"),
        words_of(text).contains(bindparam("words", words, type_=ARRAY(Text), unique=True)),
    )
