"""The shared send-rate ceiling (DIGEST_SEND_RATE): one bucket in the database
that every sender reserves from before each provider call."""

from __future__ import annotations

import os

import pytest

from digest.db.engine import open_engine
from digest.send_rate import SendCeiling
from tests.test_crash_recovery import digest_send, prepare


def test_two_senders_share_one_ceiling(database_url):
    """Two senders (two engines, as two processes would have) asking at the
    same moments are given consecutive slots: together 50 per second."""
    engines = [open_engine(database_url) for _ in range(2)]
    starts = []
    ceilings = []
    for engine in engines:
        waits: list[float] = []
        ceilings.append((SendCeiling(engine, 50, clock=lambda: 1000.0, sleep=waits.append), waits))
    for _ in range(50):
        for ceiling, _waits in ceilings:
            starts.append(1000.0 + ceiling.acquire(1))
    assert sorted(starts) == pytest.approx([1000.0 + i / 50 for i in range(100)])
    # A call of several recipients costs as many slots.
    ceiling, waits = ceilings[0]
    assert ceiling.acquire(5) == pytest.approx(2.0) and waits[-1] == pytest.approx(2.0)
    assert ceilings[1][0].acquire(1) == pytest.approx(2.1)
    for engine in engines:
        engine.dispose()


def test_no_ceiling_waits_for_nothing(database_url):
    engine = open_engine(database_url)
    waits: list[float] = []
    ceiling = SendCeiling(engine, 0, clock=lambda: 5.0, sleep=waits.append)
    assert [ceiling.acquire(1000) for _ in range(3)] == [0, 0, 0] and waits == []
    engine.dispose()


@pytest.mark.slow
def test_two_send_processes_together_stay_under_the_ceiling(pg_empty_url, tmp_path):
    """Two `digest send` processes on PostgreSQL with DIGEST_SEND_RATE=10
    (the outbox here writes about 8 a second per process, so 10 is a ceiling
    two processes would pass without sharing it): over the run, together at
    most 10 messages per second, measured at the outbox."""
    rate, readers = 10, 60
    env = {**prepare(pg_empty_url, tmp_path, readers), "DIGEST_SEND_RATE": str(rate)}
    senders = [digest_send(env) for _ in range(2)]
    for sender in senders:
        _, err = sender.communicate(timeout=600)
        assert sender.returncode == 0, err
    outbox = tmp_path / "outbox"
    written = sorted(os.stat(p).st_mtime for p in outbox.glob("*.eml"))
    assert len(written) == readers
    # Slot i starts no earlier than i / rate after the first; a write lands
    # shortly after its slot, so allow half a second of scheduling delay.
    assert written[-1] - written[0] >= (readers - 1) / rate - 0.5
    for i, moment in enumerate(written):
        in_second = sum(1 for other in written[i:] if other < moment + 1)
        assert in_second <= rate + 2
