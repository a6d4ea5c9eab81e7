"""The send tick with a controlled clock: step `now` through 48 hours of
five-minute ticks and check that every subscriber gets exactly one edition per
period, at their local hour, and only one catch-up edition after downtime."""

import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from digest.jobs import run_send_tick
from digest.periods import delivery_moment, period_for
from digest.preferences import Preferences
from tests.pipeline_helpers import read_outbox, store, vision_paper
from tests.scheduler_helpers import add_active, editions_of, job_context, ticks

# Across the end of US daylight saving (Sunday 2026-11-01, 01:00 happens twice in New York).
START = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
END = START + timedelta(hours=48)
TICK = timedelta(minutes=5)

SUBSCRIBERS = [
    # (timezone, frequency, hour, weekday)
    ("Asia/Tokyo", "daily", 7, 0),
    ("Europe/Berlin", "daily", 7, 0),
    ("America/New_York", "daily", 1, 0),  # the repeated hour: its first occurrence counts
    ("Asia/Kathmandu", "daily", 7, 0),  # UTC+05:45
    ("Pacific/Kiritimati", "daily", 23, 0),  # UTC+14
    ("Asia/Tokyo", "weekly", 9, 6),  # Sunday
    ("Europe/Berlin", "weekly", 8, 0),  # Monday
    ("America/New_York", "weekly", 18, 6),
    ("Asia/Kathmandu", "weekly", 6, 0),
    ("Pacific/Kiritimati", "weekly", 9, 6),
]


class StopAfter(threading.Event):
    """A stop flag that reads as set after `n` checks."""

    def __init__(self, n: int):
        super().__init__()
        self.left = n

    def is_set(self) -> bool:
        self.left -= 1
        return self.left < 0 or super().is_set()


def expected_periods(prefs: Preferences, joined: datetime, end: datetime) -> list[str]:
    """Periods whose delivery moment falls between joining and `end`."""
    found = []
    day = (joined - timedelta(days=2)).date()
    while day <= (end + timedelta(days=2)).date():
        period = period_for(prefs, day)
        if period not in found and joined <= delivery_moment(prefs, period) <= end:
            found.append(period)
        day += timedelta(days=1)
    return found


def setup(engine, joined):
    people = {}
    for n, (zone, frequency, hour, weekday) in enumerate(SUBSCRIBERS):
        prefs = dict(timezone=zone, frequency=frequency, hour=hour, weekday=weekday)
        sid = add_active(engine, f"reader{n}@example.org", joined=joined, **prefs)
        people[sid] = Preferences(**prefs)
    # Papers for the first editions, and new ones a day later for the second.
    store(engine, [vision_paper(n, START - timedelta(hours=3)) for n in range(4)], START)
    return people


def run_ticks(ctx, moments, engine, papers_at=START + timedelta(hours=24)):
    claimed_at_tick = defaultdict(list)
    added, last_id = False, 0
    for now in moments:
        if not added and now >= papers_at:
            store(engine, [vision_paper(n, now) for n in range(10, 14)], now)
            added = True
        run_send_tick(ctx, now)
        for e in editions_of(engine, after_id=last_id):
            claimed_at_tick[now].append(e)
            last_id = e["id"]
    return claimed_at_tick


@pytest.mark.slow
def test_each_subscriber_gets_one_edition_per_period_at_their_local_hour(
    database_url, engine, tmp_path
):
    joined = START - timedelta(hours=1)
    people = setup(engine, joined)
    ctx = job_context(database_url, tmp_path / "outbox")
    run_ticks(ctx, ticks(START, END, TICK), engine)

    rows = editions_of(engine)
    by_subscriber = defaultdict(list)
    for row in rows:
        by_subscriber[row["subscriber_id"]].append(row)
    for sid, prefs in people.items():
        expected = expected_periods(prefs, joined, END)
        got = [row["period"] for row in by_subscriber[sid]]
        assert sorted(got) == sorted(expected), (prefs.timezone, prefs.frequency)
        for row in by_subscriber[sid]:
            moment = delivery_moment(prefs, row["period"])
            # Claimed at the first tick at or after the local delivery hour.
            assert max(moment, START) <= row["claimed_at"] < max(moment, START) + TICK
    daily = [p for p in people.values() if p.frequency == "daily"]
    assert all(len(expected_periods(p, joined, END)) == 2 for p in daily)
    # Every edition that was not empty is exactly one email.
    sent = [row for row in rows if row["status"] == "sent"]
    assert len(read_outbox(tmp_path / "outbox")) == len(sent) > 0
    assert {row["status"] for row in rows} <= {"sent", "empty"}


@pytest.mark.slow
def test_after_six_hours_of_downtime_one_catch_up_edition_not_several(
    database_url, engine, tmp_path
):
    joined = START - timedelta(hours=1)
    people = setup(engine, joined)
    ctx = job_context(database_url, tmp_path / "outbox")
    down_from = START + timedelta(hours=9)  # 2026-10-31 21:00 UTC
    back_at = down_from + timedelta(hours=6)
    # Quarter-hour ticks here (the first test covers five-minute ones).
    every = timedelta(minutes=15)
    moments = [t for t in ticks(START, END, every) if not (down_from <= t < back_at)]
    claimed = run_ticks(ctx, moments, engine)

    missed = {
        sid
        for sid, prefs in people.items()
        for period in expected_periods(prefs, joined, END)
        if down_from <= delivery_moment(prefs, period) < back_at
    }
    assert len(missed) >= 3  # Tokyo's and Kathmandu's mornings fell in the gap
    caught_up = [e["subscriber_id"] for e in claimed[back_at]]
    assert sorted(caught_up) == sorted(missed)  # one edition each, at the first tick back
    rows = editions_of(engine)
    keys = [(row["subscriber_id"], row["period"]) for row in rows]
    assert len(keys) == len(set(keys))
    for sid, prefs in people.items():
        got = sorted(row["period"] for row in rows if row["subscriber_id"] == sid)
        assert got == sorted(expected_periods(prefs, joined, END))


def test_a_day_without_papers_mails_nobody_and_says_so(database_url, engine, tmp_path, caplog):
    now = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)  # a Sunday: arXiv publishes nothing
    add_active(engine, "ada@example.org", joined=now - timedelta(days=3), timezone="UTC", hour=7)
    ctx = job_context(database_url, tmp_path / "outbox")
    with caplog.at_level("DEBUG"):
        report = run_send_tick(ctx, now)
    assert report.counts["empty"] == 1 and not report.counts["sent"]
    assert not (tmp_path / "outbox").exists() or not list((tmp_path / "outbox").glob("*.eml"))
    assert any("is empty: nothing sent" in r.getMessage() for r in caplog.records)


def test_with_send_empty_an_empty_edition_is_mailed(database_url, engine, tmp_path):
    now = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    add_active(engine, "ada@example.org", joined=now - timedelta(days=3), timezone="UTC", hour=7)
    ctx = job_context(database_url, tmp_path / "outbox", DIGEST_SEND_EMPTY="true")
    report = run_send_tick(ctx, now)
    assert report.counts["sent"] == 1
    assert len(read_outbox(tmp_path / "outbox")) == 1


def test_a_stop_request_ends_the_send_between_subscribers_with_nothing_half_done(
    database_url, engine, tmp_path
):
    now = datetime(2026, 11, 19, 8, 0, tzinfo=UTC)
    store(engine, [vision_paper(n, now - timedelta(hours=3)) for n in range(3)], now)
    for n in range(3):
        add_active(
            engine, f"r{n}@example.org", joined=now - timedelta(days=3), timezone="UTC", hour=7
        )
    ctx = job_context(database_url, tmp_path / "outbox")
    ctx.stopping = StopAfter(1)  # SIGTERM arrives while the first subscriber is handled
    report = run_send_tick(ctx, now)
    assert report.counts["sent"] == 1
    assert [e["status"] for e in editions_of(engine)] == ["sent"]  # nothing left pending
    assert len(read_outbox(tmp_path / "outbox")) == 1

    ctx.stopping = threading.Event()  # the next run
    assert run_send_tick(ctx, now + timedelta(minutes=5)).counts["sent"] == 2
    assert len(read_outbox(tmp_path / "outbox")) == 3


@pytest.mark.slow
def test_ticks_shared_among_processes_from_a_scheduler_thread_send_each_period_once(
    database_url, engine, tmp_path
):
    """`DIGEST_SEND_PROCESSES=2`: each tick forks its senders from a worker
    thread, as the scheduler runs jobs; every period is claimed once."""
    joined = START - timedelta(hours=1)
    people = setup(engine, joined)
    ctx = job_context(database_url, tmp_path / "outbox", DIGEST_SEND_PROCESSES="2")
    end = START + timedelta(hours=24)
    worker = threading.Thread(
        target=run_ticks, args=(ctx, ticks(START, end, timedelta(hours=1)), engine)
    )
    worker.start()
    worker.join(120)
    assert not worker.is_alive()
    rows = editions_of(engine)
    for sid, prefs in people.items():
        got = [row["period"] for row in rows if row["subscriber_id"] == sid]
        assert sorted(got) == sorted(expected_periods(prefs, joined, end)), prefs.timezone
    sent = [row for row in rows if row["status"] == "sent"]
    assert len(read_outbox(tmp_path / "outbox")) == len(sent) > 0
