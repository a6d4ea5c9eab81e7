"""Planner-side speed-ups change nothing: `histories()` equals `history()` per
subscriber, `CandidatePool` picks exactly what `candidates()` picks, and the
planner's narrowed rankings compose the digest the whole rankings compose."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from digest.compose import compose_digest
from digest.editions import Planner, histories, history
from digest.papers import Paper
from digest.preferences import Preferences, TopicChoice
from digest.selection import CandidatePool, candidates
from digest.store import editions as edition_store
from digest.store.subscribers import Subscriber, add_subscriber
from tests.pipeline_helpers import VISION_TITLES

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SLUGS = ["computer-vision", "nlp", "large-language-models", "efficient-ml"]


def test_histories_equal_history_per_subscriber(engine):
    with engine.begin() as conn:
        ids = [
            add_subscriber(conn, f"r{n}@example.org", Preferences(), status="active", now=NOW)
            for n in range(5)
        ]
        # r0: nothing; r1: two sent editions; r2: one failed (not counted) after a
        # sent one; r3: an empty edition last; r4: a pending claim.
        claims = [
            (ids[1], "2026-11-28", "sent", 2, ["a", "b"]),
            (ids[1], "2026-11-29", "sent", 1, ["c"]),
            (ids[2], "2026-11-27", "sent", 3, ["a"]),
            (ids[2], "2026-11-29", "failed", 1, []),
            (ids[3], "2026-11-28", "sent", 2, ["d", "e"]),
            (ids[3], "2026-11-29", "empty", 1, []),
            (ids[4], "2026-11-30", "pending", 0, ["f"]),
        ]
        for sid, period, status, days_ago, keys in claims:
            when = NOW - timedelta(days=days_ago, minutes=sid)
            edition_store.claim_edition(
                conn, sid, period, keys, now=when, leased_at=when, status=status
            )
    with engine.connect() as conn:
        batch = histories(conn, ids + [ids[1]])
        assert batch == {sid: history(conn, sid) for sid in ids}
        assert batch[ids[0]] == (None, set())
        assert batch[ids[1]][1] == {"a", "b", "c"}
        assert all(b[0] is None or b[0].tzinfo is not None for b in batch.values())


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
