"""One subscriber's digest: a cheap merge of the shared per-topic rankings.

The rankings (`digest.ranking.rank_topic`) are computed once per topic per
edition; this module only filters them by the subscriber's candidates and
preferences, puts each paper under one section, and applies the limits. It
never adds a paper that is not in a ranking, so a digest is never filled with
irrelevant papers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from digest.digests import TRENDING_SLUG, Digest, Entry, Section
from digest.papers import Paper
from digest.preferences import Preferences
from digest.ranking import Ranked
from digest.textmatch import mentions
from digest.topics import INTERESTS_NAME, INTERESTS_SLUG, load_catalog

TRENDING_TITLE = "Trending in your topics"


@dataclass
class _Slot:
    """One of the subscriber's sections while it is being filled."""

    slug: str
    title: str
    max_papers: int | None
    eligible: list[Ranked]  # filtered, in ranking order
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
    """
    slots = _slots(prefs, ranked, candidates)
    best = _best_slot(slots)
    trending = _trending(slots, best, candidates, trending_count, prefs.max_papers)
    taken = {r.key for r in trending}
    for index, slot in enumerate(slots):
        mine = [r for r in slot.eligible if best[r.key] == index and r.key not in taken]
        slot.chosen = mine if slot.max_papers is None else mine[: max(slot.max_papers, 0)]
    _cap(slots, max(prefs.max_papers - len(trending), 0))

    sections = []
    if trending:
        entries = [
            Entry(candidates[r.key], _trending_reason(slots[best[r.key]], r)) for r in trending
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


def _slots(
    prefs: Preferences, ranked: Mapping[str, Sequence[Ranked]], candidates: Mapping[str, Paper]
) -> list[_Slot]:
    """The subscriber's sections in order, each with its eligible papers. A slug
    chosen twice counts once; a slug missing from `ranked` has nothing relevant."""
    catalog = load_catalog()
    muted = [m for m in prefs.mute if m.strip()]
    mute_cache: dict[str, bool] = {}

    def is_muted(key: str) -> bool:
        if key not in mute_cache:
            mute_cache[key] = bool(muted and mentions(candidates[key], muted))
        return mute_cache[key]

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
        eligible = [
            r
            for r in ranked.get(slug, ())
            if r.key in candidates
            and (candidates[r.key].upvotes or 0) >= min_upvotes
            and (prefs.cross_lists or r.via != "cross")
            and not is_muted(r.key)
        ]
        slots.append(_Slot(slug, title, max_papers, eligible))
    return slots


def _best_slot(slots: list[_Slot]) -> dict[str, int]:
    """Each eligible paper's section: highest relevance, earlier section on a tie."""
    best: dict[str, tuple[float, int]] = {}
    for index, slot in enumerate(slots):
        for r in slot.eligible:
            if r.key not in best or r.relevance > best[r.key][0]:
                best[r.key] = (r.relevance, index)
    return {key: index for key, (_, index) in best.items()}


def _trending(
    slots: list[_Slot],
    best: dict[str, int],
    candidates: Mapping[str, Paper],
    count: int,
    max_papers: int,
) -> list[Ranked]:
    """The most upvoted eligible papers (ties: trend score, then key)."""
    ranked = {
        r.key: r for index, slot in enumerate(slots) for r in slot.eligible if best[r.key] == index
    }
    upvoted = [r for r in ranked.values() if (candidates[r.key].upvotes or 0) > 0]
    upvoted.sort(key=lambda r: (-(candidates[r.key].upvotes or 0), -r.trend, r.key))
    return upvoted[: max(min(count, max_papers), 0)]


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
