"""`edition_claims.histories` read from the gap horizon on gives planning what
reading every edition gives: the latest claimed period, the candidates floor,
the recent rows themselves (a year of editions is a few weeks of rows and one
summary row)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, update

from digest.db.schema import editions, subscribers
from digest.editions import GAP_HORIZON, floor_from
from digest.periods import latest_period
from digest.store.edition_claims import History, changed_histories, histories, read_histories
from digest.store.editions import COUNTED_STATES
from tests.pipeline_helpers import subscribe

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
STATES = ["pending", "queued", "sending", "sent", "failed", "unknown", "empty"]


def _period(rng: random.Random, moment: datetime) -> str:
    day = moment.date() - timedelta(days=rng.choice([0, 0, 1, 40]))  # some --date sends
    if rng.random() < 0.3:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.isoformat()


def _editions(rng: random.Random, sid: int) -> list[dict]:
    """A year of claims, mostly a chain (each counting from the one before),
    some released or failed, a few gaps."""
    rows, periods, previous = [], set(), None
    moment = NOW - timedelta(days=rng.randint(30, 365))
    while moment < NOW:
        period = _period(rng, moment)
        if period not in periods:
            periods.add(period)
            status = rng.choice(STATES)
            rows.append(
                {
                    "subscriber_id": sid,
                    "period": period,
                    "status": status,
                    "claimed_at": moment,
                    "reached_after": previous if rng.random() < 0.9 else moment - timedelta(days=3),
                    "digest_id": rng.choice([None, rng.randint(1, 10_000)]),
                    "paper_count": 0,
                }
            )
            if status != "failed":
                previous = moment
        moment += timedelta(hours=rng.choice([24, 24, 24, 7 * 24, 90 * 24, 3]))
    return rows


@pytest.mark.parametrize("seed", range(4))
def test_reading_from_the_horizon_plans_what_reading_everything_plans(engine, seed):
    rng = random.Random(seed)
    ids = [subscribe(engine, f"r{n}@example.org", now=NOW - timedelta(days=400)) for n in range(12)]
    with engine.begin() as conn:
        rows = [row for sid in ids[:-1] for row in _editions(rng, sid)]  # the last: none
        conn.execute(editions.insert(), rows)
    since = NOW - GAP_HORIZON
    with engine.begin() as conn:
        whole = histories(conn, ids)
        recent = histories(conn, ids, since=since)
    assert set(whole) == set(recent) == set(ids[:-1])
    for sid in ids[:-1]:
        full, part = whole[sid], recent[sid]
        assert full.complete and not part.complete
        assert sorted(part.rows) == sorted(r for r in full.rows if r.claimed_at >= since)
        assert all(r.claimed_at.tzinfo is UTC for r in part.rows)
        assert latest_period(part.periods()) == latest_period(full.periods())
        assert floor_from(part, NOW) == floor_from(full, NOW)
    # Older editions were summarised, not left out.
    assert sum(len(whole[sid].rows) - len(recent[sid].rows) for sid in ids[:-1]) > 30
    assert sum(recent[sid].older_claim is not None for sid in ids[:-1]) > 5
    assert floor_from(History(), NOW) is None


def test_a_history_read_too_late_is_refused():
    with pytest.raises(ValueError):
        floor_from(History(since=NOW - GAP_HORIZON + timedelta(seconds=1)), NOW)


@pytest.mark.parametrize("since", [NOW - GAP_HORIZON, None])
def test_a_batch_read_by_its_span_of_ids_tells_exactly_whose_editions_changed(engine, since):
    """`read_histories` reads a batch by its span of ids (subscribers in the
    span but not in the batch are left out) and gives what `histories` gives;
    `changed_histories` later names exactly those whose editions changed
    (a claim, a status, a release), with their histories as they are now,
    from the change counts revisions 0009 and 0010's triggers keep (SQLite). Columns
    planning does not read leave the counts alone."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL locks a batch's rows for its claim: the recheck is SQLite's")
    rng = random.Random(7)
    ids = [subscribe(engine, f"s{n}@example.org", now=NOW - timedelta(days=400)) for n in range(8)]
    with engine.begin() as conn:
        conn.execute(editions.insert(), [row for sid in ids for row in _editions(rng, sid)])
    batch = [ids[0], ids[2], ids[3], ids[5], ids[6]]  # 1 and 4: in the span, not in the batch
    last = {"period": "2030-01-01", "status": "sent", "claimed_at": NOW, "paper_count": 0}
    with engine.begin() as conn:
        conn.execute(editions.insert(), [{"subscriber_id": sid, **last} for sid in batch])
    with engine.begin() as conn:
        read = read_histories(conn, batch, since=since, versions=True)
        assert read.histories == histories(conn, batch, since=since)
        assert changed_histories(conn, read) == {}
    with engine.begin() as conn:  # what the provider's events and the send record
        conn.execute(update(editions).values(delivery="bounce", message_id="m", sent_at=NOW))
        assert changed_histories(conn, read) == {}

    def last_of(sid: int):
        return (editions.c.subscriber_id == sid) & (editions.c.period == last["period"])

    with engine.begin() as conn:
        conn.execute(update(editions).where(last_of(ids[0])).values(status="failed"))
        conn.execute(delete(editions).where(last_of(ids[3])))
        conn.execute(editions.insert(), [{**last, "subscriber_id": ids[5], "period": "2030-01-02"}])
        # Changes to subscribers outside the batch name nobody.
        conn.execute(delete(editions).where(editions.c.subscriber_id == ids[4]))
        conn.execute(
            update(editions).where(editions.c.subscriber_id == ids[1]).values(status="sent")
        )
    with engine.begin() as conn:
        changed = changed_histories(conn, read)
        assert set(changed) == {ids[0], ids[3], ids[5]}
        now = histories(conn, batch, since=since)
    assert changed == {sid: now.get(sid, History()) for sid in changed}


def test_a_subscriber_erased_counts_as_a_change_and_a_recheck_needs_the_counts(engine):
    """The editions an erased subscriber's row takes with it (ON DELETE
    CASCADE) are counted like any delete; `changed_histories` refuses a read
    made without the counts, and PostgreSQL keeps none."""
    ids = [subscribe(engine, f"e{n}@example.org", now=NOW - timedelta(days=9)) for n in range(2)]
    row = {"period": "2026-11-29", "status": "sent", "claimed_at": NOW, "paper_count": 0}
    with engine.begin() as conn:
        conn.execute(editions.insert(), [{**row, "subscriber_id": sid} for sid in ids])
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn, pytest.raises(ValueError, match="SQLite only"):
            read_histories(conn, ids, since=None, versions=True)
        return
    with engine.begin() as conn:
        read = read_histories(conn, ids, since=None, versions=True)
        with pytest.raises(ValueError, match="versions=True"):
            changed_histories(conn, read_histories(conn, ids, since=None))
    with engine.begin() as conn:
        conn.execute(delete(subscribers).where(subscribers.c.id == ids[1]))
    with engine.begin() as conn:
        assert changed_histories(conn, read) == {ids[1]: History()}


def test_a_status_change_counts_exactly_when_planning_could_see_it(engine):
    """Planning reads a status only as counted or not (`COUNTED_STATES`):
    revision 0010's update trigger counts a change from any state to any
    other exactly when it crosses that line, so a send's own steps (pending,
    sending, sent) cost no count and a failure or an `unknown` resent does."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the change counts are SQLite's")
    sid = subscribe(engine, "states@example.org", now=NOW - timedelta(days=9))
    row = {"subscriber_id": sid, "period": "2026-11-29", "claimed_at": NOW, "paper_count": 0}
    for old in STATES:
        for new in STATES:
            with engine.begin() as conn:
                conn.execute(delete(editions).where(editions.c.subscriber_id == sid))
                conn.execute(editions.insert(), [{**row, "status": old}])
                read = read_histories(conn, [sid], since=None, versions=True)
                conn.execute(update(editions).values(status=new))
                changed = changed_histories(conn, read)
            crosses = (old in COUNTED_STATES) != (new in COUNTED_STATES)
            assert bool(changed) is crosses, (old, new)
