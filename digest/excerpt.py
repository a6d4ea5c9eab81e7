"""Short, display-ready forms of feed text for emails: excerpts, author lines,
counts. Pure functions over plain strings; the input is untrusted and may be huge.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from digest.text import MAX_AUTHOR, cap, one_line

# Only this much of a field is ever looked at: an excerpt needs a few hundred
# characters, and normalising megabytes of hostile text would be wasted work.
_SCAN = 10_000

# A sentence ends at . ! or ? (maybe followed by a closing quote or bracket) when
# whitespace and then a capital, a digit or an opening quote/bracket follow.
_SENTENCE_END = re.compile(r"[.!?][\"')\]]?(?=\s+[\"'(\[]?[A-Z0-9])")
# Dots that do not end a sentence even when a capital follows.
_ABBREVIATIONS = (
    "e.g.",
    "i.e.",
    "et al.",
    "etc.",
    "vs.",
    "cf.",
    "fig.",
    "figs.",
    "eq.",
    "eqs.",
    "sec.",
    "no.",
    "approx.",
    "resp.",
    "dr.",
    "prof.",
)
_INITIAL = re.compile(r"(?:^|\s)[A-Z]\.$")


def excerpt(text: str | None, limit: int = 400, minimum: int = 200) -> str:
    """At most `limit` characters of `text` on one line, cut at the last sentence
    end between `minimum` and `limit`, else at a word boundary with "…". Never
    cuts inside a word (except a single word longer than half the limit)."""
    flat = one_line((text or "")[:_SCAN], _SCAN)
    if len(flat) <= limit:
        return flat
    window = flat[:limit]
    best = None
    for match in _SENTENCE_END.finditer(window):
        end = match.end()
        if end >= minimum and not _is_abbreviation(window[:end]):
            best = end
    if best is not None:
        return window[:best]
    return cap(flat, limit)


def _is_abbreviation(head: str) -> bool:
    lowered = head.lower()
    if any(lowered.endswith(" " + a) or lowered == a for a in _ABBREVIATIONS):
        return True
    return bool(_INITIAL.search(head))


def short_authors(names: Iterable[str], most: int = 4, shown: int = 3) -> str:
    """ "A, B, C, D" for up to `most` authors, else the first `shown` and "et al."."""
    clean = [n for n in (one_line(name, MAX_AUTHOR) for name in names) if n]
    if len(clean) <= most:
        return ", ".join(clean)
    return ", ".join(clean[:shown]) + " et al."


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """ "1 paper", "12 papers", "1,234 papers"."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"
