"""PostgreSQL's record-and-hand-over in one statement (`CallFence`) does what
`hand_over` and `record_outcomes` do in their transaction: the same editions
move, are released or are left, the same outcomes are written, and the
suppression hash it computes in SQL is `email_hash`'s."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, insert, select, update

from digest.db.engine import open_engine
from digest.db.schema import editions, subscribers
from digest.delivery import outcome_rows, record_outcomes
from digest.mail.base import Outcome
from digest.store import editions as edition_store
from digest.store.call_fence import CallFence, Handed
from digest.store.subscribers import add_subscriber, suppress
from tests.pipeline_helpers import DAY1
from tests.test_mail_sendgrid import vision
from tests.test_record_outcomes import MIXED, NOW, claimed, rows

RUN, OTHER_RUN = 7, 8


@pytest.fixture
def pg(pg_empty_url):
    engine = open_engine(pg_empty_url)
    yield engine
    engine.dispose()


def claim(conn, address: str, *, run_id: int = RUN) -> int:
    """A pending edition of run `run_id` for a new active subscriber at `address`
    (stored as given, case included)."""
    sid = add_subscriber(conn, address, vision(), status="active", now=DAY1 - timedelta(days=1))
    conn.execute(update(subscribers).where(subscribers.c.id == sid).values(email=address))
    row = {"subscriber_id": sid, "period": "2026-01-01", "status": "pending"}
    row |= {"claimed_at": DAY1, "paper_count": 1, "digest_id": 1, "run_id": run_id}
    return conn.execute(insert(editions).values(row).returning(editions.c.id)).scalar()


def fence_hand_over(engine, ids: list[int]) -> Handed:
    fence = CallFence(engine)
    try:
        return fence.record_and_hand_over([], ids, run_id=RUN, sent_at=NOW)
    finally:
        fence.close()


def states(engine, ids: list[int]) -> dict[int, str]:
    with engine.begin() as conn:
        query = select(editions.c.id, editions.c.status).where(editions.c.id.in_(ids))
        return dict(conn.execute(query).all())


def test_the_fence_moves_releases_and_leaves_what_hand_over_would(pg):
    with pg.begin() as conn:
        plain = [claim(conn, f"r{i}@example.org") for i in range(5)]
        left = claim(conn, "gone@example.org")
        conn.execute(
            update(subscribers)
            .where(subscribers.c.email == "gone@example.org")
            .values(status="unsubscribed")
        )
        barred = claim(conn, "Barred.Person+tag@Example.ORG")
        suppress(conn, " barred.person+TAG@example.org", reason="bounce", now=DAY1)
        taken = claim(conn, "other@example.org", run_id=OTHER_RUN)
        wide = claim(conn, "jürgen@example.org")  # not printable ASCII: hand_over decides
        wide_barred = claim(conn, "zoë@example.org")
        suppress(conn, "ZOË@example.org", reason="bounce", now=DAY1)
    ids = [*plain, left, barred, taken, wide, wide_barred]
    handed = fence_hand_over(pg, ids)
    assert handed == Handed(moved=plain, dropped=sorted([left, barred]), rest=[wide, wide_barred])
    found = states(pg, ids)
    assert {i for i, s in found.items() if s == "sending"} == set(plain)
    assert left not in found and barred not in found  # released: deleted
    assert (found[taken], found[wide], found[wide_barred]) == ("pending",) * 3
    with pg.begin() as conn:
        assert edition_store.hand_over(conn, handed.rest, run_id=RUN) == (
            [wide],
            [wide_barred],
        )


@pytest.mark.parametrize(
    "address",
    [
        "UPPER@EXAMPLE.COM",
        "MiXeD.Case+Tag@Sub.Example.Org",
        "o'neil_{x}|y~z@x.io",
        "Ii@example.org",  # the letter Turkish lower-casing would change
        '"Quoted..Local"@example.org',
    ],
)
def test_the_statements_hash_is_email_hash(pg, address):
    with pg.begin() as conn:
        edition = claim(conn, address)
        suppress(conn, address, reason="complaint", now=DAY1)
    assert fence_hand_over(pg, [edition]) == Handed(moved=[], dropped=[edition], rest=[])


def test_outcomes_are_recorded_as_record_outcomes_records_them(pg):
    outcomes = MIXED
    by_record, by_fence = claimed(pg, 9), claimed(pg, 9)
    recovered = claimed(pg, 4, run_id=OTHER_RUN)  # not this run's: left alone
    before = rows(pg)
    record_outcomes(pg, by_record, outcomes, now=NOW, run_id=RUN)
    fence = CallFence(pg)
    try:
        done = outcome_rows(by_fence, outcomes) + outcome_rows(recovered, outcomes[:4])
        handed = fence.record_and_hand_over(done, [], run_id=RUN, sent_at=NOW)
    finally:
        fence.close()
    assert handed == Handed([], [], [])
    after = rows(pg)
    kept = ("status", "message_id", "error", "sent_at", "papers")

    def seen(planned):
        row = after.get(planned.edition_id)
        return None if row is None else tuple(row[k] for k in kept)

    assert [seen(p) for p in by_fence] == [seen(p) for p in by_record]
    assert seen(by_fence[6]) is None  # released
    assert all(after[p.edition_id] == before[p.edition_id] for p in recovered)


def test_a_call_is_one_statement_without_begin_or_commit(pg):
    sent = claimed(pg, 3)
    with pg.begin() as conn:
        nxt = [claim(conn, f"n{i}@example.org") for i in range(3)]
    statements: list[str] = []
    status: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    fence = CallFence(pg)
    event.listen(pg, "before_cursor_execute", seen)
    try:
        raw = fence.conn.connection.driver_connection
        done = outcome_rows(sent, [Outcome("sent", message_id="sg-1")] * 3)
        handed = fence.record_and_hand_over(done, nxt, run_id=RUN, sent_at=NOW)
        status.append(raw.info.transaction_status.name)
    finally:
        event.remove(pg, "before_cursor_execute", seen)
        fence.close()
    assert handed.moved == nxt
    assert len(statements) == 1 and statements[0].lstrip().startswith("WITH")
    assert status == ["IDLE"]  # autocommit: nothing left open
    assert set(states(pg, [p.edition_id for p in sent]).values()) == {"sent"}


def test_the_fence_plans_generically_and_gives_its_connection_back_as_it_was(pg):
    fence = CallFence(pg)
    with fence.conn.begin():
        assert fence.conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_generic_plan"
    raw = fence.conn.connection.dbapi_connection
    fence.close()
    with pg.connect() as conn:
        assert conn.connection.dbapi_connection is raw  # the pool's one connection, again
        assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "auto"
