"""On PostgreSQL a send's steps (pending -> sending -> sent) are HOT updates:
no index of the editions table names a column they change, so each step
writes no index entry and its old row version is reclaimed on its page
(revision 0011). Counted by PostgreSQL's own statistics, for the statements
of both paths: the store's (`hand_over`, `set_each`) and the call fence's."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, text

from digest.db.schema import editions
from digest.store import editions as edition_store
from digest.store.call_fence import CallFence
from tests.fresh_db import migrated_postgres
from tests.pipeline_helpers import DAY1, EDITION_ROW, readers_and_a_digest

RUN = 7
FLUSH = text("SELECT pg_stat_force_next_flush()")
UPDATES = text(
    "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'editions'"
)


@pytest.fixture
def pg_engine():
    with migrated_postgres("digest_hot_updates") as engine:
        yield engine


def pending_claims(engine, count: int) -> list[int]:
    with engine.begin() as conn:
        readers_and_a_digest(conn, count)
        claims = [
            EDITION_ROW | {"subscriber_id": i, "status": "pending", "run_id": RUN}
            for i in range(1, count + 1)
        ]
        return sorted(conn.execute(insert(editions).returning(editions.c.id), claims).scalars())


def test_a_sends_steps_are_hot_updates(pg_engine):
    ids = pending_claims(pg_engine, 9)
    with pg_engine.begin() as conn:
        moved, gone = edition_store.hand_over(conn, ids[:3], run_id=RUN)
        assert (moved, gone) == (ids[:3], [])
        sent = {i: f"<{i}@example.org>" for i in moved}
        edition_store.set_each(conn, "sent", sent, "message_id", run_id=RUN, sent_at=DAY1)
        conn.execute(FLUSH)  # this transaction's counts reach the statistics at commit
    fence = CallFence(pg_engine)
    try:
        fence.record_and_hand_over([], ids[3:6], run_id=RUN, sent_at=DAY1)
        done = [(i, "sent", f"<{i}@example.org>") for i in ids[3:6]]
        fence.record_and_hand_over(done, ids[6:9], run_id=RUN, sent_at=DAY1)
        with fence.conn.begin():  # its connection's counts, likewise
            fence.conn.execute(FLUSH)
    finally:
        fence.close()
    with pg_engine.connect() as conn:
        updated, hot = conn.execute(UPDATES).one()
        fillfactor = conn.execute(
            text("SELECT reloptions FROM pg_class WHERE relname = 'editions'")
        ).scalar()
    assert (updated, hot) == (15, 15)  # 3 + 3, then 3 + 3 + 3: every one HOT
    assert fillfactor == ["fillfactor=90"]
