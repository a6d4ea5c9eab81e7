"""Relevance and trending scores of a pool of papers for one topic.

Ranking runs once per topic per edition over the whole pool and is shared by
every subscriber of that topic, so nothing here depends on a subscriber
(`digest.compose` does the per-subscriber merge).

Relevance = text evidence + category evidence (+ author evidence for custom
interests). Text evidence is BM25F over title and abstract: stemmed terms and
exact phrases, title occurrences weighted above abstract ones, term frequency
saturated and normalised by field length, each term weighted by its rarity in
the pool. A paper is relevant only when its relevance reaches the topic's
`min_relevance` (the gate): a thin topic yields fewer papers, never filler.

Generic words (`topics.GENERIC_WORDS`: transformer, generation, text, model, …)
are evidence a reader would question: a catalog term that is one of them alone
adds to a relevant paper's score but not to what passes the gate, and is never
named in the reason. The reason names the category and the distinctive terms
that made the paper relevant.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from digest.papers import Paper
from digest.textmatch import analyse, count_at, name_parts, positions, same_author
from digest.topics import GENERIC_WORDS, INTERESTS_SLUG, Topic

# BM25F parameters (the usual defaults); a title word counts like three in the abstract.
K1 = 1.2
B = 0.75
TITLE_WEIGHT = 3.0
RELATED_WEIGHT = 0.4  # a `related` term weighs this much of a keyword
# Rarity: log(1/p) scaled so a term in 1 paper out of 1000 weighs 1. p is smoothed
# towards 1% with 200 pseudo-papers, so a tiny pool does not make every term rare.
_RARE_P = 0.001
_PRIOR_DOCS = 200.0
_PRIOR_RATE = 0.01
_MIN_IDF = 0.05
# Category evidence; the default gate (topics.DEFAULT_MIN_RELEVANCE) is 0.75.
PRIMARY_HOME = 1.0  # primary category is a home category: relevant on its own
CROSS_HOME = 0.5  # cross-listed into a home category
PRIMARY_RELATED = 0.25
CROSS_RELATED = 0.1
AUTHOR = 1.0  # a followed author (custom interests)
# Trend: log-scaled signals halving every 3 days from the paper's trending/announce date.
HALF_LIFE_DAYS = 3.0
TREND_WEIGHT = 0.5  # how far trending can lift a paper above a more relevant one
_REL_SCALE = 1.5
_TREND_SCALE = 3.0
MAX_REASON_TERMS = 3


@dataclass(frozen=True)
class Ranked:
    """One relevant paper for one topic. `score` orders the topic's list.
    `via` tells how the paper's categories relate to the topic: "primary"
    (primary category is one of the topic's), "cross" (only cross-listed into a
    home category) or "text" (neither)."""

    key: str
    relevance: float
    trend: float
    score: float
    reason: str
    via: str = "text"


@dataclass(frozen=True)
class _Term:
    label: str
    tokens: tuple[str, ...]
    weight: float
    generic: bool = False  # one generic word: orders, never gates or explains


class _Doc:
    __slots__ = ("paper", "title", "abstract", "at", "primary", "secondary", "authors")

    def __init__(self, paper: Paper) -> None:
        self.paper = paper
        self.title = analyse(paper.title or "")
        self.abstract = analyse(paper.abstract or "")
        self.at = (positions(self.title), positions(self.abstract))  # word -> positions
        cats = list(paper.categories)
        self.primary = paper.primary_category or (cats[0] if cats else None)
        self.secondary = frozenset(cats) - {self.primary}
        self.authors = tuple(name_parts(a) for a in paper.authors)


class RankingIndex:
    """Corpus statistics of one pool of papers, built once per edition and shared
    by every topic ranked over it: each paper is tokenised and stemmed once, and
    phrase occurrences are cached. Papers with a repeated key count once."""

    def __init__(self, papers: Iterable[Paper]) -> None:
        seen: set[str] = set()
        self.docs: list[_Doc] = []
        for paper in papers:
            if paper.key not in seen:
                seen.add(paper.key)
                self.docs.append(_Doc(paper))
        self._postings: dict[str, set[int]] = {}
        self._by_category: dict[str, set[int]] = {}
        for i, doc in enumerate(self.docs):
            for token in doc.at[0].keys() | doc.at[1].keys():
                self._postings.setdefault(token, set()).add(i)
            for category in doc.secondary | ({doc.primary} if doc.primary else set()):
                self._by_category.setdefault(category, set()).add(i)
        n = max(len(self.docs), 1)
        self._avg_title = max(sum(len(d.title) for d in self.docs) / n, 1.0)
        self._avg_abstract = max(sum(len(d.abstract) for d in self.docs) / n, 1.0)
        self._occurrences: dict[tuple[str, ...], dict[int, tuple[int, int]]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.docs)

    def occurrences(self, tokens: tuple[str, ...]) -> dict[int, tuple[int, int]]:
        """Doc index -> (count in title, count in abstract) of a term or phrase."""
        with self._lock:
            cached = self._occurrences.get(tokens)
        if cached is not None:
            return cached
        sets = sorted((self._postings.get(t, set()) for t in tokens), key=len)
        found: dict[int, tuple[int, int]] = {}
        for i in sets[0].intersection(*sets[1:]) if sets else ():
            doc = self.docs[i]
            counts = (
                count_at(doc.title, tokens, doc.at[0].get(tokens[0], ())),
                count_at(doc.abstract, tokens, doc.at[1].get(tokens[0], ())),
            )
            if counts != (0, 0):
                found[i] = counts
        with self._lock:
            self._occurrences[tokens] = found
        return found

    def idf(self, doc_freq: int) -> float:
        """Rarity weight in [0.05, 1]: near 1 for rare terms, small for common ones."""
        p = (doc_freq + _PRIOR_RATE * _PRIOR_DOCS) / (len(self.docs) + _PRIOR_DOCS)
        return min(1.0, max(_MIN_IDF, math.log(1 / p) / math.log(1 / _RARE_P)))

    def saturation(self, i: int, title_count: int, abstract_count: int) -> float:
        """BM25F term-frequency saturation in [0, 1) of one term in doc i."""
        doc = self.docs[i]
        norm_t = 1 - B + B * len(doc.title) / self._avg_title
        norm_a = 1 - B + B * len(doc.abstract) / self._avg_abstract
        x = TITLE_WEIGHT * title_count / norm_t + abstract_count / norm_a
        return x / (K1 + x)

    def in_categories(self, categories: Iterable[str]) -> set[int]:
        out: set[int] = set()
        for category in categories:
            out |= self._by_category.get(category, set())
        return out


_LAST_LOCK = threading.Lock()
_last_index: list[tuple[Sequence[Paper], tuple[str, ...], RankingIndex]] = []


def as_index(papers: Sequence[Paper] | RankingIndex) -> RankingIndex:
    """`papers` as an index. Ranking several topics over the same list object in
    a row builds its index once (the last one is kept while its keys are unchanged);
    holding a `RankingIndex` yourself is the explicit way."""
    if isinstance(papers, RankingIndex):
        return papers
    keys = tuple(p.key for p in papers)
    with _LAST_LOCK:
        if _last_index and _last_index[0][0] is papers and _last_index[0][1] == keys:
            return _last_index[0][2]
    index = RankingIndex(papers)
    with _LAST_LOCK:
        _last_index[:] = [(papers, keys, index)]
    return index


@lru_cache(maxsize=256)
def _terms(topic: Topic) -> tuple[_Term, ...]:
    """The topic's query: keywords at full weight, related terms lighter; a term
    written twice (same stems) counts once, at its first weight. A catalog term
    that is a single generic word is marked generic; a subscriber's own keywords
    never are (they asked for exactly that word)."""
    terms: dict[tuple[str, ...], _Term] = {}
    catalog = topic.slug != INTERESTS_SLUG
    for weight, labels in ((1.0, topic.keywords), (RELATED_WEIGHT, topic.related)):
        for label in labels:
            tokens = analyse(label)
            if tokens and tokens not in terms:
                generic = catalog and len(tokens) == 1 and tokens[0] in _generic_stems()
                terms[tokens] = _Term(label, tokens, weight, generic)
    return tuple(terms.values())


@lru_cache(maxsize=1)
def _generic_stems() -> frozenset[str]:
    return frozenset(stem for word in GENERIC_WORDS for stem in analyse(word))


def _text_evidence(topic: Topic, index: RankingIndex) -> dict[int, list[tuple[float, _Term]]]:
    hits: dict[int, list[tuple[float, _Term]]] = {}
    for term in _terms(topic):
        found = index.occurrences(term.tokens)
        idf = index.idf(len(found))
        for i, (in_title, in_abstract) in found.items():
            weight = term.weight * idf * index.saturation(i, in_title, in_abstract)
            hits.setdefault(i, []).append((weight, term))
    return hits


def _category_evidence(home: frozenset, related: frozenset, doc: _Doc) -> tuple[float, str, str]:
    """(bonus, via, label for the reason) from the paper's categories."""
    bonus, via, label = 0.0, "text", ""
    if doc.secondary & related:
        bonus = CROSS_RELATED
    crossed = sorted(doc.secondary & home)
    if crossed:
        bonus, via, label = CROSS_HOME, "cross", f"{crossed[0]} (cross-list)"
    if doc.primary in related:
        bonus, via, label = max(bonus, PRIMARY_RELATED), "primary", doc.primary
    if doc.primary in home:
        bonus, via, label = PRIMARY_HOME, "primary", doc.primary
    return bonus, via, label


def _followed_author(wanted: list[tuple[str, ...]], doc: _Doc) -> str:
    """The first of the paper's author names matching a followed author, else ""."""
    for name, parts in zip(doc.paper.authors, doc.authors, strict=True):
        if any(same_author(w, parts) for w in wanted):
            return name
    return ""


def _reason(category: str, hits: list[tuple[float, _Term]], author: str) -> str:
    shown: list[_Term] = []
    distinctive = [hit for hit in hits if not hit[1].generic]
    for _, term in sorted(distinctive, key=lambda h: (-h[0], h[1].label)):
        if len(shown) == MAX_REASON_TERMS:
            break
        # "diffusion" adds nothing next to "diffusion model".
        if not any(set(term.tokens) <= set(s.tokens) for s in shown):
            shown.append(term)
    parts = [category] if category else []
    if shown:
        parts.append("matched: " + ", ".join(t.label for t in shown))
    if author:
        parts.append(f"author: {author}")
    return " · ".join(parts)


def trend_score(paper: Paper, now: datetime) -> float:
    """Upvotes, comments and GitHub stars (log-scaled), halved every
    HALF_LIFE_DAYS since the paper's latest trending listing or announcement
    (else its first version) at `now`; 0 without signals."""
    signal = (
        math.log1p(max(paper.upvotes or 0, 0))
        + 0.5 * math.log1p(max(paper.comments or 0, 0))
        + 0.25 * math.log1p(max(paper.github_stars or 0, 0))
    )
    # Age since the paper was last news: its latest trending listing or announcement.
    dates = [_aware(d) for d in (paper.trending_at, paper.available_at) if d is not None]
    when = max(dates) if dates else paper.published_at
    if signal == 0 or when is None:
        return signal
    age = (_aware(now) - _aware(when)).total_seconds() / 86400
    return signal * 0.5 ** (max(age, 0.0) / HALF_LIFE_DAYS)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def combined_score(relevance: float, trend: float) -> float:
    """Relevance dominates; trending lifts a paper by at most TREND_WEIGHT."""
    rel = 1 - math.exp(-relevance / _REL_SCALE)
    return rel + TREND_WEIGHT * (1 - math.exp(-trend / _TREND_SCALE))


def rank_topic(topic: Topic, papers: Sequence[Paper] | RankingIndex, now: datetime) -> list[Ranked]:
    """The papers relevant to `topic`, best first (score descending, then key).

    Pass a `RankingIndex` to rank many topics over one pool without
    re-tokenising it. The result depends only on the topic, the pool and `now`.
    """
    index = as_index(papers)
    text = _text_evidence(topic, index)
    home, related = frozenset(topic.categories), frozenset(topic.related_categories)
    wanted = [name_parts(a) for a in topic.authors]
    candidates = set(text) | index.in_categories(home | related)
    if wanted:
        candidates = set(range(len(index)))
    out: list[Ranked] = []
    for i in candidates:
        doc = index.docs[i]
        hits = text.get(i, [])
        bonus, via, label = _category_evidence(home, related, doc)
        author = _followed_author(wanted, doc) if wanted else ""
        # What passes the gate leaves generic words out; they only order.
        evidence = sum(w for w, t in hits if not t.generic) + bonus + (AUTHOR if author else 0.0)
        if evidence <= 0 or evidence < topic.min_relevance:
            continue
        relevance = evidence + sum(w for w, t in hits if t.generic)
        trend = trend_score(doc.paper, now)
        reason = _reason(label, hits, author)
        out.append(
            Ranked(doc.paper.key, relevance, trend, combined_score(relevance, trend), reason, via)
        )
    out.sort(key=lambda r: (-r.score, r.key))
    return out


def rank_topics(
    topics: Iterable[Topic], papers: Sequence[Paper] | RankingIndex, now: datetime
) -> dict[str, list[Ranked]]:
    """`rank_topic` for each topic over one shared index, keyed by slug."""
    index = as_index(papers)
    return {topic.slug: rank_topic(topic, index, now) for topic in topics}
