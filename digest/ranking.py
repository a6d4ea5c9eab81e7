"""Relevance and trending scores of a pool of papers for one topic.

Ranking runs once per topic per edition over the whole pool and is shared by
every subscriber of that topic, so nothing here depends on a subscriber
(`digest.compose` does the per-subscriber merge). Custom interests, mostly one
subscriber's own, can be ranked over just the papers that subscriber could be
shown (`among`), with the same scores. Either way only papers carrying
evidence are scored (`digest.ranking_index`), so a topic costs what its
evidence costs, not what the pool does.

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
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from digest.papers import Paper
from digest.ranking_index import RankingIndex, Subset, selected
from digest.textmatch import analyse, name_parts, same_author
from digest.topics import GENERIC_WORDS, INTERESTS_SLUG, Topic

RELATED_WEIGHT = 0.4  # a `related` term weighs this much of a keyword
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
    stem_set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stem_set", frozenset(self.tokens))


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


@lru_cache(maxsize=256)
def _distinctive(topic: Topic) -> tuple[_Term, ...]:
    """The topic's terms that are not generic: those that make a paper relevant."""
    return tuple(t for t in _terms(topic) if not t.generic)


# A paper's text evidence for a topic: its hits, (weight, k) for each matched
# distinctive term k (the index in `_distinctive(topic)`), in term order,
# flattened into one tuple. Floats and ints only, so the cyclic garbage
# collector stops tracking them after one look: a catalog topic has hundreds of
# thousands of hits, and lists of (weight, term) pairs were scanned again and
# again while they accumulated (most of what finding them cost).
_Hits = tuple[float | int, ...]


def _text_evidence(
    terms: Sequence[_Term], index: RankingIndex, among: Subset | None
) -> dict[int, _Hits]:
    """Position -> `_Hits` of the papers (in `among`) matching the terms (k
    indexing `terms`)."""
    hits: dict[int, _Hits] = {}
    get = hits.get
    for k, term in enumerate(terms):
        found = index.occurrences(term.tokens)
        scale = term.weight * found.idf
        for i, saturation in selected(found, among):
            hits[i] = get(i, ()) + (scale * saturation, k)
    return hits


def _category_evidence(
    home: frozenset, related: frozenset, primary: str | None, secondary: frozenset
) -> tuple[float, str, str]:
    """(bonus, via, label for the reason) from the paper's categories."""
    bonus, via, label = 0.0, "text", ""
    if secondary & related:
        bonus = CROSS_RELATED
    crossed = sorted(secondary & home)
    if crossed:
        bonus, via, label = CROSS_HOME, "cross", f"{crossed[0]} (cross-list)"
    if primary in related:
        bonus, via, label = max(bonus, PRIMARY_RELATED), "primary", primary
    if primary in home:
        bonus, via, label = PRIMARY_HOME, "primary", primary
    return bonus, via, label


def _followed_author(wanted: list[tuple[str, ...]], paper: Paper) -> str:
    """The first of the paper's author names matching a followed author, else ""."""
    for name in paper.authors:
        parts = name_parts(name)
        if any(same_author(w, parts) for w in wanted):
            return name
    return ""


def _reason(category: str, hits: _Hits, terms: Sequence[_Term], author: str) -> str:
    """Names the category, the strongest distinctive terms (`hits` of `terms`,
    which holds no generic one) and the followed author."""
    shown: list[_Term] = []
    if len(hits) == 2:  # the usual case, one term: nothing to order or leave out
        shown.append(terms[hits[1]])
    elif hits:
        matched = [(w, terms[k]) for w, k in zip(hits[::2], hits[1::2], strict=True)]
        for _, term in sorted(matched, key=lambda h: (-h[0], h[1].label)):
            if len(shown) == MAX_REASON_TERMS:
                break
            # "diffusion" adds nothing next to "diffusion model".
            if not any(term.stem_set <= s.stem_set for s in shown):
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
    return _rel(relevance) + _lift(trend)


def _rel(relevance: float) -> float:
    return 1 - math.exp(-relevance / _REL_SCALE)


def _lift(trend: float) -> float:
    return TREND_WEIGHT * (1 - math.exp(-trend / _TREND_SCALE))


def rank_topic(
    topic: Topic,
    papers: Sequence[Paper] | RankingIndex,
    now: datetime,
    *,
    among: Sequence[int] | None = None,
) -> list[Ranked]:
    """The papers relevant to `topic`, best first (score descending, then key).

    Pass a `RankingIndex` to rank many topics over one pool without
    re-tokenising it; `among` (positions in its `papers`, ascending) ranks only
    those papers, with the whole pool's statistics: the same list as the whole
    ranking with the others left out. The result depends only on the topic, the
    pool and `now`. Only papers with evidence (a term, a category, a followed
    author's surname) are scored.
    """
    index = as_index(papers)
    subset = None if among is None else Subset(among)
    # Generic terms never make a paper relevant: they are looked up only for
    # the papers that are (in _scored).
    text = _text_evidence(_distinctive(topic), index, subset)
    home, related = frozenset(topic.categories), frozenset(topic.related_categories)
    candidates = set(text) | index.in_categories(home | related, subset)
    surnames = {parts[-1] for parts in map(name_parts, topic.authors) if parts}
    if surnames:
        candidates |= index.by_surname(surnames, subset)
    return _scored(topic, index, candidates, text, now)


def _scored(
    topic: Topic,
    index: RankingIndex,
    candidates: Iterable[int],
    text: dict[int, _Hits],
    now: datetime,
) -> list[Ranked]:
    """The candidates (positions) that pass the topic's gate, ranked, from their
    distinctive terms' hits (`text`: `_text_evidence(_distinctive(topic), ...)`),
    categories, followed authors and then the topic's generic terms."""
    home, related = frozenset(topic.categories), frozenset(topic.related_categories)
    wanted = [name_parts(a) for a in topic.authors]
    generic = [(t, index.occurrences(t.tokens)) for t in _terms(topic) if t.generic]
    terms = _distinctive(topic)
    trends, lifts = index.derived(("trend", now), lambda: _trends(index, now))
    # Category evidence per distinct listing (few of them), worked out when first met.
    by_listing: list[tuple[float, str, str] | None] = [None] * len(index.listings)
    listing, papers, hits_at, gate = index.listing, index.papers, text.get, topic.min_relevance
    # Topics without generic terms (custom interests) share the papers matched by
    # one term alone: made once per run for all of them (see _Alone).
    alone = None if generic else index.derived(("alone", now), _Alone)
    memos = None if alone is None else alone.memos(terms)

    def ranked(i: int, evidence: float, hits: _Hits, label: str, via: str, author: str) -> Ranked:
        relevance = evidence
        if generic:
            relevance = evidence + sum(
                term.weight * found.idf * saturation
                for term, found in generic
                if (saturation := found.saturation_at(i)) is not None
            )
        # combined_score(relevance, trend), its trend part worked out once per paper.
        score = _rel(relevance) + lifts[i]
        reason = _reason(label, hits, terms, author)
        return Ranked(papers[i].key, relevance, trends[i], score, reason, via)

    out: list[Ranked] = []
    made = 0
    for i in candidates:
        category = by_listing[listing[i]]
        if category is None:
            listed = index.listings[listing[i]]
            category = by_listing[listing[i]] = _category_evidence(home, related, *listed)
        bonus, via, label = category
        hits = hits_at(i, ())
        author = _followed_author(wanted, papers[i]) if wanted else ""
        # What passes the gate leaves generic words out; they only order.
        evidence = sum(hits[::2]) + bonus + (AUTHOR if author else 0.0)
        if evidence <= 0 or evidence < gate:
            continue
        if memos is not None and len(hits) == 2 and not bonus and not author:
            memo = memos[hits[1]]
            found = memo.get(i)
            if found is None:
                found = memo[i] = ranked(i, evidence, hits, label, via, author)
                made += 1
            out.append(found)
        else:
            out.append(ranked(i, evidence, hits, label, via, author))
    if alone is not None:
        alone.made(made)
    out.sort(key=_order)
    return out


class _Alone:
    """The `Ranked` of papers matched by one distinctive term and nothing else
    (no category, no followed author) for topics without generic terms, by
    term (label, stems, weight) and position: it is the same for every such
    topic holding the term (relevance is the term's hit alone, the reason names
    it alone), whatever else the topic looks for and whatever its gate (checked
    before). Readers' own interests share keywords, and each is ranked over
    their possible candidates: most of their papers are made once per run.
    At most `MAX` are kept (then it starts again)."""

    MAX = 200_000

    def __init__(self) -> None:
        self._by_term: dict[tuple[str, tuple[str, ...], float], dict[int, Ranked]] = {}
        self._count = 0

    def memos(self, terms: Sequence[_Term]) -> list[dict[int, Ranked]]:
        """The position -> `Ranked` memo of each of `terms`, in order."""
        by_term = self._by_term
        return [by_term.setdefault((t.label, t.tokens, t.weight), {}) for t in terms]

    def made(self, count: int) -> None:
        """`count` more were put in the memos."""
        self._count += count
        if self._count > self.MAX:
            self._by_term, self._count = {}, 0


def _order(r: Ranked) -> tuple[float, str]:
    return (-r.score, r.key)


def _trends(index: RankingIndex, now: datetime) -> tuple[array, array]:
    """Each paper's trend score at `now` and what it adds to a combined score."""
    trends = array("d", (trend_score(paper, now) for paper in index.papers))
    return trends, array("d", map(_lift, trends))


def rank_topics(
    topics: Iterable[Topic], papers: Sequence[Paper] | RankingIndex, now: datetime
) -> dict[str, list[Ranked]]:
    """`rank_topic` for each topic over one shared index, keyed by slug."""
    index = as_index(papers)
    return {topic.slug: rank_topic(topic, index, now) for topic in topics}


class TopicRanking(Sequence[Ranked]):
    """`rank_topic(topic, index, now)` as a sequence, ranked when first read: for
    a ranking that is mostly wanted for some papers only (`rank_topic(...,
    among=...)`: custom interests, ranked over one subscriber's possible
    candidates), so the whole pool is ranked only if someone reads it whole."""

    def __init__(self, topic: Topic, index: RankingIndex, now: datetime) -> None:
        self.topic, self.index, self.now = topic, index, now
        self._whole: list[Ranked] | None = None

    def _ranked(self) -> list[Ranked]:
        if self._whole is None:
            self._whole = rank_topic(self.topic, self.index, self.now)
        return self._whole

    def __getitem__(self, item):  # noqa: ANN001 - an int or a slice, as for a list
        return self._ranked()[item]

    def __len__(self) -> int:
        return len(self._ranked())

    def __iter__(self) -> Iterator[Ranked]:
        return iter(self._ranked())
