"""Planner-side batch reads: `histories()` equals `history()` per subscriber,
and `CandidatePool` picks exactly what `candidates()` picks."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from digest.editions import histories, history
from digest.papers import Paper
from digest.preferences import Preferences
from digest.selection import CandidatePool, candidates
from digest.store import editions as edition_store
from digest.store.subscribers import add_subscriber

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


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
