"""The inverted index `digest.ranking` scores a pool of papers with.

Built once per pool (an edition's candidate pool, tens of thousands of papers)
and shared by every topic ranked over it, so ranking one topic costs what its
evidence costs: the papers carrying one of its terms, categories or authors,
never a pass over the pool. What it keeps is compact:

- per stem, its postings: one 64-bit integer per paper holding the paper's
  position and the stem's counts in the title and in the abstract;
- per paper, its title and abstract as packed stem ids (4 bytes a word, a 0
  between them, which no phrase spans), which is all exact phrases need; the
  words themselves are not kept;
- per category and (built on first use) per author surname, the papers' positions;
- per paper, its listing (primary and cross-listed categories) among the
  pool's few distinct ones, so category evidence is worked out once per listing;
- the pool's statistics (paper count, average field lengths), which a term's
  rarity and a paper's length normalisation use, whatever subset is ranked.

Positions are indexes into `papers` (the input order, a repeated key counted
once). A `Subset` restricts a lookup to some positions.
"""

from __future__ import annotations

import bisect
import math
import threading
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from digest.papers import Paper
from digest.textmatch import name_parts, stem_word, words

# BM25F parameters (the usual defaults); a title word counts like three in the abstract.
K1 = 1.2
B = 0.75
TITLE_WEIGHT = 3.0
# Rarity: log(1/p) scaled so a term in 1 paper out of 1000 weighs 1. p is smoothed
# towards 1% with 200 pseudo-papers, so a tiny pool does not make every term rare.
_RARE_P = 0.001
_PRIOR_DOCS = 200.0
_PRIOR_RATE = 0.01
_MIN_IDF = 0.05
# A posting: position << 40 | title count << 20 | abstract count. A field's
# first million words (2**20 - 1) are indexed, so counts fit.
_COUNT_BITS = 20
_COUNT_MAX = (1 << _COUNT_BITS) - 1
_TITLE_ONE = 1 << _COUNT_BITS
_ID_BYTES = 4  # a stem id in a packed field (array "I")
# A phrase's second stem narrows the papers to check when it is in at most this
# many times as many papers as the rarest (a set of them costs less than the
# byte searches it saves).
_INTERSECT_RATIO = 4


class Occurrences:
    """Where one term (a stem or an exact phrase of stems) occurs: the papers'
    positions, ascending, with the term's BM25F saturation in each, and its
    rarity weight in the pool."""

    __slots__ = ("positions", "saturations", "idf")

    def __init__(self, positions: array, saturations: array, idf: float) -> None:
        self.positions, self.saturations, self.idf = positions, saturations, idf

    def saturation_at(self, position: int) -> float | None:
        """The term's saturation in the paper at `position`; None when absent."""
        at = bisect.bisect_left(self.positions, position)
        if at < len(self.positions) and self.positions[at] == position:
            return self.saturations[at]
        return None


class RankingIndex:
    """Corpus statistics and inverted index of one pool of papers."""

    def __init__(self, papers: Iterable[Paper]) -> None:
        seen: set[str] = set()
        self.papers: list[Paper] = []
        # Stem ids start at 1: 0 stands for a stopword while a field is read.
        self._vocabulary: dict[str, int] = {}
        self._postings: list[array] = [array("Q")]
        word_ids = _WordIds(self._vocabulary, self._postings)  # while reading the pool
        # Per paper: its title's stem ids, a 0 (no phrase spans it), its abstract's; packed.
        self._fields: list[bytes] = []
        self._by_category: dict[str, array] = {}
        self.primary: list[str | None] = []
        self.secondary: list[frozenset[str]] = []
        # The distinct (primary, secondary) listings, and each paper's: few of them,
        # so category evidence is worked out once per listing.
        self.listings: list[tuple[str | None, frozenset[str]]] = []
        self.listing = array("I")
        listing_ids: dict[tuple[str | None, frozenset[str]], int] = {}
        shared: dict[frozenset[str], frozenset[str]] = {}
        self._title_lengths, abstract_lengths = array("I"), array("I")
        title_lengths = self._title_lengths
        for paper in papers:
            if paper.key in seen:
                continue
            seen.add(paper.key)
            position = len(self.papers)
            self.papers.append(paper)
            title, abstract = _ids(word_ids, paper.title), _ids(word_ids, paper.abstract)
            title_lengths.append(len(title))
            abstract_lengths.append(len(abstract))
            self._fields.append(array("I", [*title, 0, *abstract]).tobytes())
            self._post(position, title, abstract)
            categories = list(paper.categories)
            primary = paper.primary_category or (categories[0] if categories else None)
            secondary = frozenset(categories) - {primary}
            self.primary.append(primary)
            self.secondary.append(shared.setdefault(secondary, secondary))
            listed = (primary, self.secondary[-1])
            if listed not in listing_ids:
                listing_ids[listed] = len(self.listings)
                self.listings.append(listed)
            self.listing.append(listing_ids[listed])
            for category in secondary | ({primary} if primary else set()):
                self._by_category.setdefault(category, array("I")).append(position)
        n = max(len(self.papers), 1)
        avg_title = max(sum(title_lengths) / n, 1.0)
        avg_abstract = max(sum(abstract_lengths) / n, 1.0)
        # BM25F length normalisation of each paper's fields.
        self._norm_title = array("d", (1 - B + B * k / avg_title for k in title_lengths))
        self._norm_abstract = array("d", (1 - B + B * k / avg_abstract for k in abstract_lengths))
        self._occurrences: dict[tuple[str, ...], Occurrences] = {}
        self._surnames: dict[str, array] | None = None
        self._derived: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.papers)

    def _post(self, position: int, title: list[int], abstract: list[int]) -> None:
        # One dict holds both counts: abstract ones below _COUNT_BITS, title ones above.
        counts = Counter(abstract)
        get = counts.get
        for stem_id in title:
            counts[stem_id] = get(stem_id, 0) + _TITLE_ONE
        # postings[stem_id].append(base | packed) for each stem, iterated in C.
        base = position << 2 * _COUNT_BITS
        targets = map(self._postings.__getitem__, counts.keys())
        deque(map(array.append, targets, map(base.__or__, counts.values())), maxlen=0)

    def occurrences(self, tokens: tuple[str, ...]) -> Occurrences:
        """Where the stems `tokens` occur as a phrase (one stem: as a word)."""
        with self._lock:
            cached = self._occurrences.get(tokens)
        if cached is not None:
            return cached
        positions, in_titles, in_abstracts = self._counts(tokens)
        norm_title, norm_abstract = self._norm_title, self._norm_abstract
        # `saturation` inlined (the same arithmetic): a common stem is in most papers.
        saturations = array(
            "d",
            [
                (x := TITLE_WEIGHT * t / norm_title[p] + a / norm_abstract[p]) / (K1 + x)
                for p, t, a in zip(positions, in_titles, in_abstracts, strict=True)
            ],
        )
        found = Occurrences(array("I", positions), saturations, self.idf(len(positions)))
        with self._lock:
            self._occurrences[tokens] = found
        return found

    def _counts(self, tokens: tuple[str, ...]) -> tuple[list[int], list[int], list[int]]:
        """The positions of the papers holding the phrase, ascending, and its
        counts in their titles and in their abstracts."""
        ids = [self._vocabulary.get(t) for t in tokens]
        if not ids or None in ids:
            return [], [], []
        if len(ids) == 1:
            postings = self._postings[ids[0]]
            return (
                [p >> 2 * _COUNT_BITS for p in postings],
                [p >> _COUNT_BITS & _COUNT_MAX for p in postings],
                [p & _COUNT_MAX for p in postings],
            )
        # Each paper holding the rarest of the stems (and the next rarest, when
        # few enough hold it to be worth a set) is checked for the phrase, then
        # the few that hold it are counted in.
        rarest, other = sorted((self._postings[i] for i in ids), key=len)[:2]
        holding = [p >> 2 * _COUNT_BITS for p in rarest]
        if len(other) <= _INTERSECT_RATIO * len(rarest):
            also = {p >> 2 * _COUNT_BITS for p in other}
            holding = [q for q in holding if q in also]
        phrase, fields = array("I", ids).tobytes(), self._fields
        holding = [q for q in holding if phrase in fields[q]]
        positions, in_titles, in_abstracts = [], [], []
        for position in holding:
            in_title, in_abstract = _count(
                fields[position], phrase, _ID_BYTES * self._title_lengths[position]
            )
            if in_title or in_abstract:
                positions.append(position)
                in_titles.append(in_title)
                in_abstracts.append(in_abstract)
        return positions, in_titles, in_abstracts

    def idf(self, doc_freq: int) -> float:
        """Rarity weight in [0.05, 1]: near 1 for rare terms, small for common ones."""
        p = (doc_freq + _PRIOR_RATE * _PRIOR_DOCS) / (len(self.papers) + _PRIOR_DOCS)
        return min(1.0, max(_MIN_IDF, math.log(1 / p) / math.log(1 / _RARE_P)))

    def saturation(self, position: int, title_count: int, abstract_count: int) -> float:
        """BM25F term-frequency saturation in [0, 1) of one term in one paper."""
        x = (
            TITLE_WEIGHT * title_count / self._norm_title[position]
            + abstract_count / self._norm_abstract[position]
        )
        return x / (K1 + x)

    def in_categories(self, categories: Iterable[str], among: Subset | None = None) -> set[int]:
        """Positions of the papers listed in (primary or cross-listed into) any of
        `categories`."""
        out: set[int] = set()
        for category in categories:
            out.update(select(self._by_category.get(category, ()), among))
        return out

    def by_surname(self, surnames: Iterable[str], among: Subset | None = None) -> set[int]:
        """Positions of the papers with an author of one of these surnames (the
        last of `textmatch.name_parts`)."""
        index = self._surname_index()
        out: set[int] = set()
        for surname in surnames:
            out.update(select(index.get(surname, ()), among))
        return out

    def _surname_index(self) -> dict[str, array]:
        # Built on first use: only custom interests follow authors.
        with self._lock:
            if self._surnames is None:
                surnames: dict[str, array] = {}
                for position, paper in enumerate(self.papers):
                    for surname in {p[-1] for p in map(name_parts, paper.authors) if p}:
                        surnames.setdefault(surname, array("I")).append(position)
                self._surnames = surnames
            return self._surnames

    def derived(self, key: Any, compute: Callable[[], Any]) -> Any:
        """`compute()`, once per `key` for this index: a value derived from its
        papers (per-paper trend scores at one moment, an arrival order)."""
        with self._lock:
            if key in self._derived:
                return self._derived[key]
        value = compute()
        with self._lock:
            return self._derived.setdefault(key, value)


class _WordIds(dict[str, int]):
    """A word as written -> the id of its stem in an index (0: a stopword); a
    word not seen before is stemmed and, when new, its stem given the next id
    and an empty postings list. Each distinct word is stemmed once per index."""

    def __init__(self, vocabulary: dict[str, int], postings: list[array]) -> None:
        super().__init__()
        self._vocabulary, self._postings = vocabulary, postings

    def __missing__(self, word: str) -> int:
        stem, found = stem_word(word), 0
        if stem:
            found = self._vocabulary.get(stem, 0)
            if not found:
                found = self._vocabulary[stem] = len(self._postings)
                self._postings.append(array("Q"))
        self[word] = found
        return found


def _ids(word_ids: _WordIds, text: str | None) -> list[int]:
    """The stem ids of `textmatch.stems(text)`, its first _COUNT_MAX."""
    # Mapped and stopwords dropped in C: a pool is millions of words.
    ids = list(filter(None, map(word_ids.__getitem__, words(text or ""))))
    del ids[_COUNT_MAX:]
    return ids


class Subset:
    """Some of an index's papers, from their positions (ascending, each once):
    one stretch of the pool is looked up by bisection, scattered positions by a
    membership test per posting."""

    __slots__ = ("low", "high", "members")

    def __init__(self, positions: Sequence[int]) -> None:
        self.low = positions[0] if positions else 0
        self.high = positions[-1] + 1 if positions else 0
        stretch = self.high - self.low == len(positions)
        self.members = None if stretch else frozenset(positions)

    def bounds(self, positions: Sequence[int]) -> tuple[int, int]:
        """The slice of `positions` (ascending) between this subset's first and last."""
        return bisect.bisect_left(positions, self.low), bisect.bisect_left(positions, self.high)


def select(positions: Sequence[int], among: Subset | None) -> Iterable[int]:
    """The `positions` (ascending) that are in `among` (None: all of them)."""
    if among is None:
        return positions
    start, stop = among.bounds(positions)
    if among.members is None:
        return positions[start:stop]
    return [p for p in positions[start:stop] if p in among.members]


def selected(occurrences: Occurrences, among: Subset | None) -> Iterable[tuple[int, float]]:
    """(position, saturation) of the term's papers that are in `among`."""
    positions, saturations = occurrences.positions, occurrences.saturations
    if among is None:
        return zip(positions, saturations, strict=True)
    start, stop = among.bounds(positions)
    pairs = zip(positions[start:stop], saturations[start:stop], strict=True)
    if among.members is None:
        return pairs
    return [(p, s) for p, s in pairs if p in among.members]


def _count(field: bytes, phrase: bytes, title_end: int) -> tuple[int, int]:
    """Occurrences (overlapping ones too) of the packed `phrase` in a packed
    field, before `title_end` (in the title) and after it (in the abstract)."""
    in_title = in_abstract = 0
    at = field.find(phrase)
    while at >= 0:
        if at % _ID_BYTES == 0:  # not a match straddling two stem ids
            if at < title_end:
                in_title += 1
            else:
                in_abstract += 1
        at = field.find(phrase, at + 1)
    return in_title, in_abstract
