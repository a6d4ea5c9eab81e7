"""Planner-side speed-ups change nothing: `CandidatePool` picks exactly what
`candidates()` picks, and the planner's narrowed rankings compose the digest
the whole rankings compose."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from digest.compose import compose_digest
from digest.editions import Planner
from digest.papers import Paper
from digest.preferences import Preferences, TopicChoice
from digest.selection import CLOCK_MARGIN, CandidatePool, candidates
from digest.store.subscribers import Subscriber
from tests.pipeline_helpers import VISION_TITLES

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SLUGS = ["computer-vision", "nlp", "large-language-models", "efficient-ml"]


def paper(rng: random.Random, n: int) -> Paper:
    def moment() -> datetime | None:
        return NOW - timedelta(hours=rng.uniform(0, 24 * 20)) if rng.random() < 0.8 else None

    seen = NOW - timedelta(hours=rng.uniform(0, 24 * 20))
    return Paper(
        key=f"2611.{n:05d}",
        title="t",
        available_at=moment(),
        trending_at=moment(),
        first_seen_at=seen,
        trending_seen_at=moment(),
    )


@pytest.mark.parametrize("seed", range(5))
def test_candidate_pool_picks_what_candidates_picks(seed):
    rng = random.Random(seed)
    pool = [paper(rng, n) for n in range(400)]
    indexed = CandidatePool(pool)
    for _ in range(60):
        previous = rng.choice([None, NOW - timedelta(hours=rng.uniform(0, 24 * 15))])
        sent = {p.key for p in rng.sample(pool, 50)}
        args = dict(
            frequency=rng.choice(["daily", "weekly"]), previous_claim=previous, sent=sent, now=NOW
        )
        expected = candidates(pool, **args)
        got = indexed.candidates(**args)
        assert list(got) == list(expected)


@pytest.mark.parametrize("seed", range(3))
def test_planner_composes_what_the_whole_rankings_compose(seed):
    rng = random.Random(seed)
    pool = []
    for n in range(300):
        p = paper(rng, n)
        p.title = rng.choice(VISION_TITLES + ["Sparse mixture of experts for language models"])
        p.abstract = "We study object detection and language models with transformers."
        p.categories, p.primary_category = ["cs.CV"], rng.choice(["cs.CV", "cs.CL", "cs.LG"])
        p.upvotes = rng.choice([None, 0, 3, 40])
        pool.append(p)
    planner = Planner(pool, NOW)
    shown = 0
    for n in range(40):
        prefs = Preferences(
            topics=[TopicChoice(s) for s in rng.sample(SLUGS, rng.randint(1, 3))],
            keywords=rng.choice([[], ["object detection"], ["language models"]]),
            frequency=rng.choice(["daily", "weekly"]),
            max_papers=rng.choice([5, 20]),
        )
        subscriber = Subscriber(n, f"r{n}@example.org", "active", prefs, NOW)
        previous = rng.choice([None, NOW - timedelta(hours=rng.uniform(1, 24 * 9))])
        sent = {p.key for p in rng.sample(pool, 30)}
        planned = planner.plan(subscriber, "2026-11-30", previous_claim=previous, sent=sent)
        chosen = candidates(
            pool, frequency=prefs.frequency, previous_claim=previous, sent=sent, now=NOW
        )
        whole = compose_digest(
            prefs,
            planner.rankings_for(subscriber),
            chosen,
            period="2026-11-30",
            edition_date=NOW.date(),
            frequency=prefs.frequency,
        )
        assert planned.digest.rendering_key() == whole.rendering_key()
        shown += whole.paper_count
    assert shown > 100  # the digests are not trivially empty


def vision_pool(seed: int, n: int = 300) -> list[Paper]:
    """Papers relevant to the test topics, some upvoted, arriving over 20 days."""
    rng = random.Random(seed)
    pool = []
    for i in range(n):
        p = paper(rng, i)
        p.title = rng.choice(VISION_TITLES + ["Sparse mixture of experts for language models"])
        p.abstract = "We study object detection and language models with transformers."
        p.categories, p.primary_category = ["cs.CV"], rng.choice(["cs.CV", "cs.CL", "cs.LG"])
        p.upvotes = rng.choice([None, 0, 3, 40])
        pool.append(p)
    return pool


@pytest.mark.parametrize("seed", range(3))
def test_the_planner_s_candidates_are_what_candidates_picks(seed):
    rng = random.Random(seed)
    pool = [paper(rng, n) for n in range(400)]
    planner = Planner(pool, NOW)
    for _ in range(80):
        frequency = rng.choice(["daily", "weekly"])
        previous = rng.choice([None, NOW - timedelta(hours=rng.uniform(0, 24 * 15))])
        sent = rng.choice([set(), {p.key for p in rng.sample(pool, 50)}])
        expected = candidates(
            pool, frequency=frequency, previous_claim=previous, sent=sent, now=NOW
        )
        assert list(planner.candidates(frequency, previous, sent)) == list(expected)


def _reach(p: Paper) -> datetime:
    return max(d for d in (p.first_seen_at, p.trending_seen_at) if d)


def test_claims_between_the_same_two_arrivals_share_one_plan():
    pool = vision_pool(7)
    planner = Planner(pool, NOW)
    prefs = Preferences(topics=[TopicChoice("computer-vision")], max_papers=50)
    subscriber = Subscriber(1, "r@example.org", "active", prefs, NOW)
    # A paper the digest shows, and the arrival before it: claims in between
    # (less the clock margin) all see it, and all give one digest.
    start = planner.plan_shared(subscriber, "2026-11-30", previous_claim=NOW - timedelta(days=5))
    shown = max((p for p in start.papers), key=_reach)
    arrivals = sorted({_reach(p) for p in pool})
    before = arrivals[arrivals.index(_reach(shown)) - 1]
    early, late = before + CLOCK_MARGIN, _reach(shown) + CLOCK_MARGIN - timedelta(microseconds=1)
    assert planner.cut("daily", early) == planner.cut("daily", late)
    first = planner.plan_shared(subscriber, "2026-11-30", previous_claim=early)
    second = planner.plan_shared(subscriber, "2026-11-30", previous_claim=late)
    assert first is second
    for claim in (early, late):
        alone = Planner(pool, NOW).plan(subscriber, "2026-11-30", previous_claim=claim, sent=set())
        assert alone.digest == first
    assert shown.key in {p.key for p in first.papers}
    # Past that arrival: another cut, without the paper.
    after = _reach(shown) + CLOCK_MARGIN
    third = planner.plan_shared(subscriber, "2026-11-30", previous_claim=after)
    alone = Planner(pool, NOW).plan(subscriber, "2026-11-30", previous_claim=after, sent=set())
    assert planner.cut("daily", after) != planner.cut("daily", late)
    assert third == alone.digest and third != first
    assert shown.key not in {p.key for p in third.papers}


def test_replans_with_the_same_sent_candidates_share_one_digest():
    pool = vision_pool(8)
    planner = Planner(pool, NOW)
    prefs = Preferences(topics=[TopicChoice("computer-vision")], max_papers=5)
    ada = Subscriber(1, "ada@example.org", "active", prefs, NOW)
    bob = Subscriber(2, "bob@example.org", "active", prefs, NOW)
    claim = NOW - timedelta(days=2)
    shown = planner.plan_shared(ada, "2026-11-30", previous_claim=claim).papers
    assert len(shown) >= 2
    # Both received the digest's first paper; Bob also papers that are no
    # candidates now (older ones): the same candidates are removed.
    old = {"2501.00001", "2501.00002"}
    first = planner.plan(ada, "2026-11-30", previous_claim=claim, sent={shown[0].key})
    second = planner.plan(bob, "2026-11-30", previous_claim=claim, sent={shown[0].key} | old)
    assert first.digest is second.digest
    assert first.subscriber is ada and second.subscriber is bob
    alone = Planner(pool, NOW).plan(bob, "2026-11-30", previous_claim=claim, sent={shown[0].key})
    assert alone.digest == first.digest
    assert shown[0].key not in {p.key for p in first.digest.papers}
    # Another sent candidate: another digest, the one planning alone makes.
    sent = {shown[0].key, shown[1].key}
    third = planner.plan(ada, "2026-11-30", previous_claim=claim, sent=sent)
    assert third.digest is not first.digest
    assert (
        third.digest
        == Planner(pool, NOW).plan(ada, "2026-11-30", previous_claim=claim, sent=sent).digest
    )
