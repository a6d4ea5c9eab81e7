"""Text matching shared by ranking and digest composition: the same analysis
for papers, topic keywords and muted words (Snowball stems, stopwords dropped,
phrases as contiguous stems), and author-name matching.

Pure functions; the caches make re-analysing the same text (a paper ranked for
many topics, then checked against a subscriber's muted words) cheap.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache

from digest.papers import Paper

_WORD = re.compile(r"[^\W_]+")
# What `_WORD` finds in ASCII text, found faster (no Unicode category lookups).
_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")
# fmt: off
_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "do", "does", "for",
    "from", "has", "have", "how", "in", "into", "is", "it", "its", "of", "on", "or", "our",
    "s", "so", "such", "t", "than", "that", "the", "their", "them", "then", "there", "these",
    "this", "those", "to", "was", "we", "were", "what", "when", "where", "which", "while",
    "who", "will", "with",
})
# fmt: on
_STEM_LOCK = threading.Lock()


@cache
def _stemmer():
    # Loaded on the first word: a command that ranks nothing never pays for it.
    import snowballstemmer

    return snowballstemmer.stemmer("english")


# A word as written -> its stem ("" for a stopword): the words of a pool's
# abstracts repeat, and stemming is most of analysing them.
_SURFACE: dict[str, str] = {}
_SURFACE_MAX = 200_000


@lru_cache(maxsize=8192)
def analyse(text: str) -> tuple[str, ...]:
    """Lower-cased Snowball stems of the words of `text`, accents and stopwords
    dropped; hyphens split words. "LLMs" becomes "llm" (acronym plurals)."""
    return stems(text)


def stems(text: str) -> tuple[str, ...]:
    """`analyse` without its cache: for text analysed once (a pool's abstracts,
    which would only push the keywords and muted words out of the cache)."""
    known = _SURFACE
    out = []
    for word in words(text):
        stem = known.get(word)
        if stem is None:
            stem = _surface_stem(word)
        if stem:
            out.append(stem)
    return tuple(out)


def words(text: str) -> list[str]:
    """The words of `text` as written (accents dropped, hyphens and other
    punctuation splitting), in order: what `stems` stems."""
    if text.isascii():
        return _ASCII_WORD.findall(text)
    return _WORD.findall(_fold(text))


def stem_word(written: str) -> str:
    """The stem of one word of `words(...)` ("" for a stopword), as `stems` has it."""
    stem = _SURFACE.get(written)
    return _surface_stem(written) if stem is None else stem


def _surface_stem(written: str) -> str:
    word = written
    if not word.islower():
        if word[-1] == "s" and sum(c.isupper() for c in word[:-1]) >= 2:
            word = word[:-1]
        word = word.lower()
    if word in _STOPWORDS:
        stem = ""
    else:
        with _STEM_LOCK:  # snowball stemmers keep state while stemming
            stem = _stemmer().stemWord(word)
    if len(_SURFACE) >= _SURFACE_MAX:
        _SURFACE.clear()
    _SURFACE[written] = stem
    return stem


def contains(tokens: tuple[str, ...], phrase: tuple[str, ...]) -> int:
    """How many times `phrase` occurs contiguously in `tokens`."""
    return count_at(tokens, phrase, [i for i, t in enumerate(tokens) if t == phrase[0]])


def count_at(tokens: tuple[str, ...], phrase: tuple[str, ...], starts: Sequence[int]) -> int:
    """Occurrences of `phrase` starting at one of `starts` (where its first word is)."""
    if len(phrase) == 1:
        return len(starts)
    n = len(phrase)
    return sum(1 for i in starts if tokens[i : i + n] == phrase)


def mentions(paper: Paper, phrases: Iterable[str]) -> list[str]:
    """The phrases (stemmed, whole words, in order) found in the paper's title
    or abstract; used to apply muted keywords."""
    title, abstract = analyse(paper.title or ""), analyse(paper.abstract or "")
    found = []
    for phrase in phrases:
        tokens = analyse(phrase)
        if tokens and (contains(title, tokens) or contains(abstract, tokens)):
            found.append(phrase)
    return found


@lru_cache(maxsize=8192)
def name_parts(name: str) -> tuple[str, ...]:
    """An author name as lower-case, accent-free words, given names first
    ("García, José" -> ("jose", "garcia"))."""
    if "," in name:
        last, _, first = name.partition(",")
        name = f"{first} {last}"
    return tuple(re.findall(r"[^\W\d_]+", _fold(name).lower()))


def _fold(text: str) -> str:
    """Accents dropped: "Schrödinger" -> "Schrodinger"."""
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def same_author(wanted: tuple[str, ...], name: tuple[str, ...]) -> bool:
    """Same surname and compatible first given name: "A. Name" matches
    "Alice Name" and "Alice B. Name"; a surname alone matches any given name."""
    if not wanted or not name or wanted[-1] != name[-1]:
        return False
    if len(wanted) == 1 or len(name) == 1:
        return True
    a, b = wanted[0], name[0]
    return a[0] == b[0] if min(len(a), len(b)) == 1 else a == b
