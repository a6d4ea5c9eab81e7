"""`hand_over` and `set_each` bind short id lists as fixed parameters padded
to a power of two, and long ones as one expanding parameter: every size
moves, releases and records exactly the editions it should."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select, update

from digest.db.schema import editions, subscribers
from digest.store import editions as edition_store
from digest.store.subscribers import add_subscriber, suppress
from tests.pipeline_helpers import DAY1
from tests.test_mail_sendgrid import vision

RUN, OTHER_RUN = 7, 8


def claims(conn, count: int) -> list[int]:
    """`count` pending editions of run RUN, one per new active subscriber."""
    ids = []
    for i in range(count):
        sid = add_subscriber(
            conn, f"r{i}@example.org", vision(), status="active", now=DAY1 - timedelta(days=1)
        )
        row = {"subscriber_id": sid, "period": "2026-01-01", "status": "pending"}
        row |= {"claimed_at": DAY1, "paper_count": 1, "digest_id": 1, "run_id": RUN}
        ids.append(conn.execute(insert(editions).values(row).returning(editions.c.id)).scalar())
    return ids


def statuses(conn, ids: list[int]) -> dict[int, str]:
    query = select(editions.c.id, editions.c.status).where(editions.c.id.in_(ids))
    return dict(conn.execute(query).all())


@pytest.mark.parametrize("count", [1, 2, 3, 5, 64, 65, 130])
def test_hand_over_moves_exactly_the_held_claims_of_mailable_subscribers(engine, count):
    with engine.begin() as conn:
        ids = claims(conn, count)
        left, suppressed, taken = ids[0], ids[-1], ids[len(ids) // 2]
        edition = select(editions.c.subscriber_id).where(editions.c.id == left)
        sid = conn.execute(edition).scalar()
        conn.execute(
            update(subscribers).where(subscribers.c.id == sid).values(status="unsubscribed")
        )
        suppress(conn, f"R{count - 1}@Example.org ", reason="bounce", now=DAY1)
        conn.execute(update(editions).where(editions.c.id == taken).values(run_id=OTHER_RUN))
        moved, gone = edition_store.hand_over(conn, ids, run_id=RUN)
        found = statuses(conn, ids)
    expected_gone = sorted({left, suppressed} - {taken})
    expected_moved = sorted(set(ids) - {left, suppressed, taken})
    assert (moved, gone) == (expected_moved, expected_gone)
    assert {i for i, s in found.items() if s == "sending"} == set(expected_moved)
    assert set(ids) - set(found) == set(expected_gone)  # released: deleted
    if taken not in expected_gone:
        assert found[taken] == "pending"  # another run's claim is left alone


@pytest.mark.parametrize("count", [1, 3, 64, 65])
def test_set_each_records_only_what_the_run_holds_in_sending(engine, count):
    with engine.begin() as conn:
        ids = claims(conn, count)
        moved, _ = edition_store.hand_over(conn, ids[1:], run_id=RUN)
        own = {i: "<m@x>" for i in ids}
        changed = edition_store.set_each(conn, "sent", own, "message_id", run_id=RUN, sent_at=DAY1)
        found = statuses(conn, ids)
    assert sorted(changed) == moved == ids[1:]
    assert found == {ids[0]: "pending", **{i: "sent" for i in ids[1:]}}
