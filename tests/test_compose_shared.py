"""Composition that reads only what the limits let in, and eligible lists
shared by the planner, give exactly the digests of the plain algorithm: every
eligible list filtered in full, each paper's best section found over all of
them, trending sorted over the whole union (`reference_compose` below, the
algorithm `compose_digest` used before)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from digest.compose import TRENDING_TITLE, compose_digest
from digest.digests import TRENDING_SLUG, Digest, Entry, Section
from digest.editions import Planner
from digest.papers import Paper
from digest.preferences import Preferences, TopicChoice
from digest.ranking import Ranked
from digest.selection import candidates
from digest.store.subscribers import Subscriber
from digest.textmatch import mentions
from digest.topics import INTERESTS_NAME, INTERESTS_SLUG, load_catalog
from tests.pipeline_helpers import VISION_TITLES

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SLUGS = ["computer-vision", "nlp", "large-language-models", "efficient-ml"]
PERIOD = "2026-11-30"


def reference_compose(prefs, ranked, cands, trending_count=3) -> Digest:
    """The whole-list algorithm, written plainly."""
    catalog = load_catalog()
    muted = [m for m in prefs.mute if m.strip()]
    specs = []
    for choice in prefs.topics:
        if choice.slug not in {s[0] for s in specs}:
            title = catalog[choice.slug].name if choice.slug in catalog else choice.slug
            specs.append((choice.slug, title, choice.max_papers, choice.min_upvotes or 0))
    if prefs.has_custom_interests:
        specs.append((INTERESTS_SLUG, INTERESTS_NAME, None, 0))
    slots = []
    for slug, title, max_papers, topic_min in specs:
        floor = max(prefs.min_upvotes, topic_min)
        eligible = [
            r
            for r in ranked.get(slug, ())
            if r.key in cands
            and (cands[r.key].upvotes or 0) >= floor
            and (prefs.cross_lists or r.via != "cross")
            and not (muted and mentions(cands[r.key], muted))
        ]
        slots.append([slug, title, max_papers, eligible, []])
    best: dict[str, tuple[float, int]] = {}
    for index, slot in enumerate(slots):
        for r in slot[3]:
            if r.key not in best or r.relevance > best[r.key][0]:
                best[r.key] = (r.relevance, index)
    where = {key: index for key, (_, index) in best.items()}
    mine = {r.key: r for i, slot in enumerate(slots) for r in slot[3] if where[r.key] == i}
    upvoted = [r for r in mine.values() if (cands[r.key].upvotes or 0) > 0]
    upvoted.sort(key=lambda r: (-(cands[r.key].upvotes or 0), -r.trend, r.key))
    trending = upvoted[: max(min(trending_count, prefs.max_papers), 0)]
    taken = {r.key for r in trending}
    for index, slot in enumerate(slots):
        own = [r for r in slot[3] if where[r.key] == index and r.key not in taken]
        slot[4] = own if slot[2] is None else own[: max(slot[2], 0)]
    room = max(prefs.max_papers - len(trending), 0)
    if sum(len(s[4]) for s in slots) > room:
        keep, depth = [0] * len(slots), 0
        while room > 0:
            for index, slot in enumerate(slots):
                if room > 0 and depth < len(slot[4]):
                    keep[index] += 1
                    room -= 1
            depth += 1
        for slot, n in zip(slots, keep, strict=True):
            slot[4] = slot[4][:n]
    sections = []
    if trending:
        entries = []
        for r in trending:
            title = slots[where[r.key]][1]
            entries.append(Entry(cands[r.key], f"{title} · {r.reason}" if r.reason else title))
        sections.append(Section(TRENDING_SLUG, TRENDING_TITLE, entries))
    for slug, title, _, _, chosen in slots:
        if chosen:
            sections.append(Section(slug, title, [Entry(cands[r.key], r.reason) for r in chosen]))
    return Digest(PERIOD, NOW.date(), prefs.frequency, sections, prefs.format)


def random_prefs(rng: random.Random, slugs=SLUGS) -> Preferences:
    return Preferences(
        topics=[
            TopicChoice(
                s,
                max_papers=rng.choice([None, None, 0, 2, 5]),
                min_upvotes=rng.choice([None, None, 3]),
            )
            for s in rng.sample(slugs, rng.randint(1, len(slugs)))
        ],
        keywords=rng.choice([[], [], ["object detection"], ["language models"]]),
        mute=rng.choice([[], [], ["depth"], ["  "], ["mixture of experts", "tracking"]]),
        frequency=rng.choice(["daily", "weekly"]),
        max_papers=rng.choice([0, 3, 5, 20, 100]),
        cross_lists=rng.choice([True, True, False]),
        min_upvotes=rng.choice([0, 0, 1, 5]),
    )


@pytest.mark.parametrize("seed", range(20))
def test_it_composes_what_the_whole_lists_compose(seed):
    """Hand-made rankings with what real ones rarely have: a key twice in a
    list, one paper with different trend scores in two lists, equal relevance."""
    rng = random.Random(seed)
    papers = {
        f"p{n}": Paper(
            key=f"p{n}",
            title=rng.choice(VISION_TITLES + ["Sparse mixture of experts"]),
            upvotes=rng.choice([None, 0, 1, 3, 3, 40]),
        )
        for n in range(60)
    }
    keys = list(papers)
    ranked = {}
    for slug in [*SLUGS, INTERESTS_SLUG]:
        chosen = rng.sample(keys, rng.randint(0, 40)) + rng.sample(keys, rng.choice([0, 0, 3]))
        ranked[slug] = [
            Ranked(
                key,
                relevance=rng.choice([1.0, 2.0, rng.random() * 3]),
                trend=rng.choice([0.0, 1.5, rng.random()]),
                score=0.0,
                reason=rng.choice(["", f"why {slug}"]),
                via=rng.choice(["primary", "cross", "text"]),
            )
            for key in chosen
        ]
    for _ in range(25):
        prefs = random_prefs(rng)
        cands = {k: papers[k] for k in rng.sample(keys, rng.randint(20, 60))}
        count = rng.choice([0, 1, 3, 8])
        got = compose_digest(
            prefs,
            ranked,
            cands,
            period=PERIOD,
            edition_date=NOW.date(),
            frequency=prefs.frequency,
            trending_count=count,
        )
        assert got == reference_compose(prefs, ranked, cands, count)


def paper(rng: random.Random, n: int) -> Paper:
    def moment() -> datetime | None:
        return NOW - timedelta(hours=rng.uniform(0, 24 * 20)) if rng.random() < 0.8 else None

    return Paper(
        key=f"2611.{n:05d}",
        title=rng.choice(VISION_TITLES + ["Sparse mixture of experts for language models"]),
        abstract="We study object detection and language models with transformers.",
        categories=["cs.CV", "cs.CL"][: rng.randint(1, 2)],
        primary_category=rng.choice(["cs.CV", "cs.CL", "cs.LG"]),
        upvotes=rng.choice([None, 0, 3, 40]),
        available_at=moment(),
        trending_at=moment(),
        first_seen_at=NOW - timedelta(hours=rng.uniform(0, 24 * 20)),
        trending_seen_at=moment(),
    )


@pytest.mark.parametrize("seed", range(3))
def test_shared_plans_are_what_the_plain_function_composes(seed):
    """Many subscribers through one planner (lists shared between them, also
    across previous claims in one gap) against `compose_digest` with the whole
    rankings and their own candidates; replans with something sent too."""
    rng = random.Random(seed)
    pool = [paper(rng, n) for n in range(300)]
    planner = Planner(pool, NOW)
    claims = [None, NOW - timedelta(days=1), NOW - timedelta(days=1, minutes=1)]
    claims += [NOW - timedelta(days=6)]
    shown = 0
    for n in range(150):
        prefs = random_prefs(rng)
        subscriber = Subscriber(n, f"r{n}@example.org", "active", prefs, NOW)
        previous = rng.choice(claims)
        sent = rng.choice([set(), set(), {p.key for p in rng.sample(pool, 40)}])
        if sent:
            digest = planner.plan(subscriber, PERIOD, previous_claim=previous, sent=sent).digest
        else:
            digest = planner.plan_shared(subscriber, PERIOD, previous_claim=previous)
        chosen = candidates(
            pool, frequency=prefs.frequency, previous_claim=previous, sent=sent, now=NOW
        )
        whole = reference_compose(prefs, planner.rankings_for(subscriber), chosen)
        assert digest == whole
        shown += whole.paper_count
    assert shown > 300  # the digests are not trivially empty
