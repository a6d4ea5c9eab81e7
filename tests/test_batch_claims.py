"""Batch claims (digest.claims): concurrent claimers split the list, and a
digest planned once for many subscribers never carries a paper one of them
was sent before, however long ago within the retention period."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from digest.claims import ClaimOptions, claim_next
from digest.db.schema import editions
from digest.editions import Planner
from digest.preferences import Preferences, TopicChoice
from digest.render import CompileCache
from digest.store.subscribers import add_subscriber
from tests.fresh_db import migrated_postgres
from tests.pipeline_helpers import (
    DAY1,
    SITE,
    paper_keys_in,
    read_outbox,
    send,
    store,
    subscribe,
    vision_paper,
)


def test_a_paper_sent_60_days_ago_that_trends_again_is_not_sent_again(engine, tmp_path):
    first = tmp_path / "day1"
    ada = subscribe(engine, "ada@example.org", now=DAY1)
    store(engine, [vision_paper(0, DAY1)], DAY1)
    assert send(engine, first, DAY1 + timedelta(hours=8)).counts["sent"] == 1
    assert paper_keys_in(read_outbox(first)[0]) == {"2611.14000"}

    later = DAY1 + timedelta(days=60)
    # Bob, with the same preferences, joins the day before: the paper is new to him.
    bob = subscribe(engine, "bob@example.org", now=later)
    assert ada != bob
    store(
        engine,
        [
            vision_paper(0, later, upvotes=800, trending_at=later, sources=["arxiv", "hf"]),
            vision_paper(1, later),
        ],
        later,
    )
    second = tmp_path / "day61"
    assert send(engine, second, later + timedelta(hours=8)).counts["sent"] == 2
    got = {m["To"]: paper_keys_in(m) for m in read_outbox(second)}
    assert got == {
        "ada@example.org": {"2611.14001"},
        "bob@example.org": {"2611.14000", "2611.14001"},
    }


def test_a_replan_that_brings_up_a_paper_sent_before_the_horizon_reads_every_edition(
    engine, tmp_path
):
    """Ada was sent A 60 days ago and B 2 days ago; both trend again. The
    shared digest (one paper) shows B; without B her digest would show A,
    which only her old edition holds: she gets C, a new paper, instead."""
    ada = subscribe(engine, "ada@example.org", now=DAY1, max_papers=1)
    store(engine, [vision_paper(0, DAY1)], DAY1)
    assert send(engine, tmp_path / "a", DAY1 + timedelta(hours=8)).counts["sent"] == 1
    assert paper_keys_in(read_outbox(tmp_path / "a")[0]) == {"2611.14000"}
    day58 = DAY1 + timedelta(days=58)
    store(engine, [vision_paper(1, day58)], day58)
    assert send(engine, tmp_path / "b", day58 + timedelta(hours=8)).counts["sent"] == 1
    assert paper_keys_in(read_outbox(tmp_path / "b")[0]) == {"2611.14001"}

    later = DAY1 + timedelta(days=60)
    bob = subscribe(engine, "bob@example.org", now=later, max_papers=1)
    assert ada != bob
    again = dict(trending_at=later, sources=["arxiv", "hf"])
    store(
        engine,
        [
            vision_paper(0, later, upvotes=800, **again),
            vision_paper(1, later, upvotes=900, **again),
            vision_paper(2, later),
        ],
        later,
    )
    assert send(engine, tmp_path / "c", later + timedelta(hours=8)).counts["sent"] == 2
    got = {m["To"]: paper_keys_in(m) for m in read_outbox(tmp_path / "c")}
    assert got == {"ada@example.org": {"2611.14002"}, "bob@example.org": {"2611.14001"}}


def _prefs(n: int) -> Preferences:
    # The first batch's digest differs from the next ones': a run inserting a
    # digest another run has inserted but not committed waits for that commit,
    # and the first run holds its batch open until the second has claimed.
    return Preferences(
        topics=[TopicChoice("computer-vision")], timezone="UTC", hour=7, max_papers=2 + (n >= 200)
    )


@pytest.fixture
def pg_engine():
    with migrated_postgres("digest_claims") as engine:
        yield engine


@pytest.mark.slow
def test_two_concurrent_batch_claimers_on_postgresql_split_the_subscribers(pg_engine):
    engine = pg_engine
    now = DAY1 + timedelta(hours=8)
    store(engine, [vision_paper(n, DAY1) for n in range(3)], DAY1)
    with engine.begin() as conn:
        ids = [
            add_subscriber(conn, f"r{n}@example.org", _prefs(n), status="active", now=DAY1)
            for n in range(1000)
        ]
    first_batch_held = threading.Event()
    second_batch_taken = threading.Event()
    claimed: dict[int, list[int]] = {1: [], 2: []}
    firsts: dict[int, list[int]] = {}

    def claimer(run_id: int) -> None:
        with engine.begin() as conn:
            planner = Planner.load(conn, now=now, retention_days=365)
        cache = CompileCache(SITE)
        options = ClaimOptions(now=now, run_id=run_id, force_hour=True)
        after = 0
        while True:
            with engine.begin() as conn:
                batch = claim_next(conn, planner, cache, options, after=after)
                if run_id not in firsts:
                    firsts[run_id] = [p.subscriber.id for p in batch.claimed]
                    if run_id == 1:  # hold the first batch until the other took its own
                        first_batch_held.set()
                        assert second_batch_taken.wait(30)
                    else:
                        second_batch_taken.set()
            if batch.last_id is None:
                return
            after = batch.last_id
            claimed[run_id] += [p.subscriber.id for p in batch.claimed]

    one = threading.Thread(target=claimer, args=(1,))
    one.start()
    assert first_batch_held.wait(30)
    two = threading.Thread(target=claimer, args=(2,))
    two.start()
    one.join(60)
    two.join(60)
    engine_rows = engine.connect()
    try:
        count = engine_rows.execute(select(func.count()).select_from(editions)).scalar_one()
        runs = dict(
            engine_rows.execute(
                select(editions.c.run_id, func.count()).group_by(editions.c.run_id)
            ).all()
        )
    finally:
        engine_rows.close()
    # While run 1 held its first batch, run 2 skipped those rows instead of waiting.
    assert firsts[1] and firsts[2] and not set(firsts[1]) & set(firsts[2])
    assert set(claimed[1]).isdisjoint(claimed[2])
    assert sorted(claimed[1] + claimed[2]) == sorted(ids)  # each exactly once
    assert count == len(ids) and runs == {1: len(claimed[1]), 2: len(claimed[2])}
    assert claimed[1] and claimed[2]


@pytest.mark.parametrize("recheck", [True, False])
def test_a_batch_planned_apart_is_planned_again_where_another_run_claimed_meanwhile(
    engine, recheck
):
    """A send shared by processes on SQLite plans a batch in a read-only
    transaction and claims it in the next. Between the two another run sends
    Ada yesterday's edition with paper 0: the claim reads her editions again
    and plans her anew, so today's edition does not show paper 0 again
    (without the recheck it would: the plan was made before)."""
    from digest.claims import claim_planned, plan_next
    from digest.db.engine import reading
    from tests.pipeline_helpers import claim_edition

    now = DAY1 + timedelta(hours=8)
    ada = subscribe(engine, "ada@example.org", now=DAY1 - timedelta(days=1))
    bob = subscribe(engine, "bob@example.org", now=DAY1 - timedelta(days=1))
    store(engine, [vision_paper(n, DAY1 - timedelta(hours=2)) for n in range(3)], DAY1)
    with engine.begin() as conn:
        planner = Planner.load(conn, now=now, retention_days=365)
    options = ClaimOptions(now=now, run_id=None, force_hour=True)

    def another_run_sends_ada_paper_0() -> None:
        with engine.begin() as conn:
            claim_edition(conn, ada, "2026-11-18", ["2611.14000"], now=now, status="sent")

    sqlite = engine.dialect.name == "sqlite"
    if recheck and not sqlite:
        pytest.skip("PostgreSQL locks a batch's rows for its claim: the recheck is SQLite's")
    with reading(engine) as conn:
        planned = plan_next(conn, planner, options, after=0, recheck=recheck)
        if sqlite:  # the reading transaction holds no write lock: nobody waits for it
            another_run_sends_ada_paper_0()
    if not sqlite:  # PostgreSQL: the batch's rows stay locked until it ends
        another_run_sends_ada_paper_0()
    assert all("2611.14000" in {x.key for x in p.digest.papers} for p in planned.plans)
    with engine.begin() as conn:
        claimed = claim_planned(
            conn, planner, CompileCache(SITE), options, planned, recheck=recheck
        )
    shown = {p.subscriber.id: {x.key for x in p.digest.papers} for p in claimed.planned}
    assert "2611.14000" in shown[bob]
    assert ("2611.14000" in shown[ada]) is not recheck


@pytest.mark.parametrize("with_history", [True, False])
def test_a_subscriber_erased_or_gone_between_plan_and_claim_is_not_claimed(engine, with_history):
    """SQLite plans a batch in a read-only transaction and claims it in the
    next. A subscriber erased in between (their editions, if any, go with
    them) or who unsubscribed is left out of the claim, which claims the
    others (an edition of a deleted subscriber would fail the batch's foreign
    key)."""
    from sqlalchemy import delete, update

    from digest.claims import claim_planned, plan_next
    from digest.db.engine import reading
    from digest.db.schema import subscribers
    from tests.pipeline_helpers import claim_edition

    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL locks a batch's rows for its claim: the recheck is SQLite's")
    now = DAY1 + timedelta(hours=8)
    ada, bob, cy = (
        subscribe(engine, f"{name}@example.org", now=DAY1 - timedelta(days=2))
        for name in ("ada", "bob", "cy")
    )
    store(engine, [vision_paper(n, DAY1 - timedelta(hours=2)) for n in range(3)], DAY1)
    if with_history:
        with engine.begin() as conn:
            claim_edition(conn, ada, "2026-11-17", ["2611.14000"], now=now, status="sent")
    with engine.begin() as conn:
        planner = Planner.load(conn, now=now, retention_days=365)
    options = ClaimOptions(now=now, run_id=1, force_hour=True)
    with reading(engine) as conn:
        planned = plan_next(conn, planner, options, after=0, recheck=True)
    assert {p.subscriber.id for p in planned.plans} == {ada, bob, cy}
    with engine.begin() as conn:
        conn.execute(delete(subscribers).where(subscribers.c.id == ada))
        conn.execute(
            update(subscribers).where(subscribers.c.id == cy).values(status="unsubscribed")
        )
    with engine.begin() as conn:
        claimed = claim_planned(conn, planner, CompileCache(SITE), options, planned, recheck=True)
    assert [p.subscriber.id for p in claimed.claimed] == [bob]
    with engine.begin() as conn:
        assert conn.execute(select(editions.c.subscriber_id)).scalars().all() == [bob]
