"""One subscriber's digest: a cheap merge of the shared per-topic rankings.

The rankings (`digest.ranking.rank_topic`) are computed once per topic per
edition; this module only filters them by the subscriber's candidates and
preferences, puts each paper under one section, and applies the limits. It
never adds a paper that is not in a ranking, so a digest is never filled with
irrelevant papers.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from digest.digests import TRENDING_SLUG, Digest, Entry, Section
from digest.papers import Paper
from digest.preferences import Preferences
from digest.ranking import Ranked
from digest.textmatch import mentions
from digest.topics import INTERESTS_NAME, INTERESTS_SLUG, load_catalog

TRENDING_TITLE = "Trending in your topics"


class Eligibles:
    """A section's eligible entries, in ranking order, with what composing
    reads of them: a planner shares one between the subscribers whose lists
    are the same, so it is never modified and what is derived from it is
    worked out once, when first asked for."""

    def __init__(self, entries: list[Ranked], candidates: Mapping[str, Paper]) -> None:
        self.entries = entries
        self._candidates = candidates

    @cached_property
    def relevance(self) -> dict[str, float]:
        """Key -> relevance (the highest, should a key repeat)."""
        out: dict[str, float] = {}
        for r in self.entries:
            if r.key not in out or r.relevance > out[r.key]:
                out[r.key] = r.relevance
        return out

    @cached_property
    def upvoted(self) -> list[tuple[tuple, Ranked]]:
        """(order, entry) of the entries with upvotes, most upvoted first (ties:
        trend score, then key); for a key that repeats, its last entry."""
        last = {r.key: r for r in self.entries}
        out = []
        for r in last.values():
            upvotes = self._candidates[r.key].upvotes or 0
            if upvotes > 0:
                out.append(((-upvotes, -r.trend, r.key), r))
        out.sort(key=_order)
        return out


def _order(item: tuple[tuple, Ranked]) -> tuple:
    return item[0]


# eligible(slug, ranking, min_upvotes): the entries of `ranking` that may appear
# in the section `slug` (see `eligibility`).
Eligible = Callable[[str, Sequence[Ranked], int], Eligibles]


@dataclass
class _Slot:
    """One of the subscriber's sections while it is being filled."""

    slug: str
    title: str
    max_papers: int | None
    eligible: Eligibles
    chosen: list[Ranked] = field(default_factory=list)


def compose_digest(
    prefs: Preferences,
    ranked: Mapping[str, Sequence[Ranked]],
    candidates: Mapping[str, Paper],
    *,
    period: str,
    edition_date: date,
    frequency: str,
    trending_count: int = 3,
    eligible: Eligible | None = None,
) -> Digest:
    """The subscriber's digest from the shared rankings.

    `ranked` maps topic slugs to `rank_topic` results; `ranked["interests"]`
    holds this subscriber's custom-interests ranking when they have one.
    `candidates` are the papers not yet sent to them: no other paper appears.

    Sections: "Trending in your topics" (the `trending_count` most upvoted
    eligible papers with upvotes > 0), then each chosen topic in the
    subscriber's order, then "Your interests". A paper appears once, under the
    section where it is most relevant (earlier section on a tie). Eligibility
    per section: a candidate, not muted, at least the global and the topic's
    `min_upvotes`, and not a mere cross-list when cross-lists are off. Each topic
    keeps at most its `max_papers`; `prefs.max_papers` caps the whole digest,
    shared round-robin between topic sections. Empty sections are left out, so
    the digest may have no sections at all. Deterministic.

    `eligible`, when given, must return what `eligibility(prefs, candidates)`
    does: a planner passes lists it shares between subscribers. Only as much
    of each list is read as the limits let into the digest.
    """
    slots = _slots(prefs, ranked, eligible or eligibility(prefs, candidates))
    best = _BestSlot(slots)
    trending = _trending(slots, best, trending_count, prefs.max_papers)
    room = max(prefs.max_papers - len(trending), 0)
    taken = {r.key for r in trending}
    for index, slot in enumerate(slots):
        # No section keeps more than `room` after _cap: reading further is waste.
        limit = room if slot.max_papers is None else min(max(slot.max_papers, 0), room)
        slot.chosen = _mine(slot, index, best, taken, limit)
    _cap(slots, room)

    sections = []
    if trending:
        entries = [
            Entry(candidates[r.key], _trending_reason(slots[best(r.key)], r)) for r in trending
        ]
        sections.append(Section(TRENDING_SLUG, TRENDING_TITLE, entries))
    for slot in slots:
        if slot.chosen:
            entries = [Entry(candidates[r.key], r.reason) for r in slot.chosen]
            sections.append(Section(slot.slug, slot.title, entries))
    return Digest(
        period=period,
        edition_date=edition_date,
        frequency=frequency,
        sections=sections,
        format=prefs.format,
    )


def eligibility(prefs: Preferences, candidates: Mapping[str, Paper]) -> Eligible:
    """The subscriber's rule for a section's papers, in ranking order: a
    candidate, with at least `min_upvotes`, not a mere cross-list when
    cross-lists are off, not muted. It depends on the candidates, the
    cross-lists flag and the mute list only (not on the section's slug)."""
    muted = [m for m in prefs.mute if m.strip()]
    mute_cache: dict[str, bool] = {}

    def is_muted(key: str) -> bool:
        if key not in mute_cache:
            mute_cache[key] = bool(muted and mentions(candidates[key], muted))
        return mute_cache[key]

    def eligible(slug: str, ranking: Sequence[Ranked], min_upvotes: int) -> Eligibles:
        entries = [
            r
            for r in ranking
            if r.key in candidates
            and (candidates[r.key].upvotes or 0) >= min_upvotes
            and (prefs.cross_lists or r.via != "cross")
            and not is_muted(r.key)
        ]
        return Eligibles(entries, candidates)

    return eligible


def _slots(
    prefs: Preferences, ranked: Mapping[str, Sequence[Ranked]], eligible: Eligible
) -> list[_Slot]:
    """The subscriber's sections in order, each with its eligible papers. A slug
    chosen twice counts once; a slug missing from `ranked` has nothing relevant."""
    catalog = load_catalog()
    specs: list[tuple[str, str, int | None, int]] = []
    for choice in prefs.topics:
        if choice.slug not in {s[0] for s in specs}:
            title = catalog[choice.slug].name if choice.slug in catalog else choice.slug
            specs.append((choice.slug, title, choice.max_papers, choice.min_upvotes or 0))
    if prefs.has_custom_interests:
        specs.append((INTERESTS_SLUG, INTERESTS_NAME, None, 0))

    slots = []
    for slug, title, max_papers, topic_min in specs:
        min_upvotes = max(prefs.min_upvotes, topic_min)
        slots.append(
            _Slot(slug, title, max_papers, eligible(slug, ranked.get(slug, ()), min_upvotes))
        )
    return slots


class _BestSlot:
    """Each eligible paper's section: highest relevance, earlier section on a
    tie. Asked per paper, for the few papers a digest reads."""

    def __init__(self, slots: list[_Slot]) -> None:
        self._maps = [slot.eligible.relevance for slot in slots] if len(slots) > 1 else []
        self._found: dict[str, int] = {}

    def __call__(self, key: str) -> int:
        if not self._maps:
            return 0  # one section: every eligible paper is its own
        index = self._found.get(key)
        if index is None:
            top = None
            for i, relevance in enumerate(self._maps):
                value = relevance.get(key)
                if value is not None and (top is None or value > top):
                    top, index = value, i
            self._found[key] = index
        return index


def _trending(slots: list[_Slot], best: _BestSlot, count: int, max_papers: int) -> list[Ranked]:
    """The most upvoted eligible papers (ties: trend score, then key), each as
    its own section ranked it: the sections' upvoted lists merged in order,
    each paper taken from its section's list only."""
    wanted = max(min(count, max_papers), 0)
    if not wanted:
        return []
    streams = [_tagged(index, slot.eligible.upvoted) for index, slot in enumerate(slots)]
    out: list[Ranked] = []
    for _, index, r in heapq.merge(*streams, key=_first):
        if best(r.key) == index:
            out.append(r)
            if len(out) == wanted:
                break
    return out


def _tagged(index: int, upvoted: list[tuple[tuple, Ranked]]) -> Iterator[tuple]:
    """The upvoted list's items with their section's index (a generator
    expression would read the loop's index late)."""
    for order, r in upvoted:
        yield order, index, r


def _first(item: tuple) -> tuple:
    return item[0]


def _mine(slot: _Slot, index: int, best: _BestSlot, taken: set[str], limit: int) -> list[Ranked]:
    """The first `limit` of the slot's eligible papers that belong to it (its
    best section, not in trending), in ranking order."""
    out: list[Ranked] = []
    if limit <= 0:
        return out
    for r in slot.eligible.entries:
        if best(r.key) == index and r.key not in taken:
            out.append(r)
            if len(out) == limit:
                break
    return out


def _trending_reason(slot: _Slot, r: Ranked) -> str:
    return f"{slot.title} · {r.reason}" if r.reason else slot.title


def _cap(slots: list[_Slot], room: int) -> None:
    """Trim the topic sections to `room` papers in all, taking them round-robin
    in section order so that every topic keeps its best papers."""
    if sum(len(s.chosen) for s in slots) <= room:
        return
    keep = [0] * len(slots)
    depth = 0
    while room > 0:
        for index, slot in enumerate(slots):
            if room > 0 and depth < len(slot.chosen):
                keep[index] += 1
                room -= 1
        depth += 1
    for slot, n in zip(slots, keep, strict=True):
        slot.chosen = slot.chosen[:n]
