"""The statements that name editions by id find them by the primary key on
PostgreSQL even while a send holds many pending (or queued) editions that the
table's statistics (taken before the send) do not know of. Otherwise the
planner goes through the run index and reads every claim of the run at each
provider call (measured with the open-states index before revision 0011:
150 ms a hand-over with 95,000 pending)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from sqlalchemy import event, insert, text

from digest.db.schema import editions
from digest.store import editions as edition_store
from digest.store.call_fence import CallFence
from digest.store.queued import mark_queued, take_queued
from tests.fresh_db import migrated_postgres
from tests.pipeline_helpers import DAY1, EDITION_ROW, readers_and_a_digest

RUN, SETTLED, UNSETTLED = 3, 20_000, 5_000


@pytest.fixture
def pg_engine():
    with migrated_postgres("digest_hand_over_plan") as engine:
        yield engine


def fill(engine) -> list[int]:
    """SETTLED sent editions, statistics taken, then as many pending claims of
    run RUN and queued editions (as a send makes them after the last
    ANALYZE); returns the pending ids, then the queued ones."""
    with engine.begin() as conn:
        readers_and_a_digest(conn, SETTLED + 2 * UNSETTLED)
        sent = [EDITION_ROW | {"subscriber_id": i, "status": "sent"} for i in range(1, SETTLED + 1)]
        conn.execute(insert(editions), sent)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    unsettled = [
        EDITION_ROW | {"subscriber_id": SETTLED + n + 1, "status": status, "run_id": RUN}
        for n, status in enumerate(["pending"] * UNSETTLED + ["queued"] * UNSETTLED)
    ]
    with engine.begin() as conn:
        ids = conn.execute(insert(editions).returning(editions.c.id), unsettled).scalars().all()
    return sorted(ids)


@contextlib.contextmanager
def executed(engine) -> Iterator[list[tuple[str, dict]]]:
    """The (statement, parameters) the driver is given meanwhile."""
    seen: list[tuple[str, dict]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_statements_by_id_reach_editions_by_primary_key_while_many_are_unsettled(pg_engine):
    ids = fill(pg_engine)
    pending, queued = ids[:UNSETTLED], ids[UNSETTLED:]
    with executed(pg_engine) as seen, pg_engine.begin() as conn:
        moved, gone = edition_store.hand_over(conn, pending[100:103], run_id=RUN)
        assert (moved, gone) == (pending[100:103], [])
        assert mark_queued(conn, pending[200:202], run_id=RUN) == pending[200:202]
        assert edition_store.release_pending_ids(conn, pending[300:302], run_id=RUN) == 2
        assert [r["id"] for r in take_queued(conn, queued[5:8], run_id=RUN)] == queued[5:8]
    fence = CallFence(pg_engine)
    with executed(pg_engine) as fenced:
        done = [(pending[100], "sent", "m-1")]
        fence.record_and_hand_over(done, pending[400:403], run_id=RUN, sent_at=DAY1)
    fence.close()
    by_id = [(sql, params) for sql, params in seen if "editions.id IN" in sql] + fenced
    assert len(by_id) >= 5
    with pg_engine.begin() as conn:
        for sql, params in by_id:
            found = "\n".join(conn.exec_driver_sql("EXPLAIN " + sql, params).scalars())
            assert "ix_editions_run" not in found, (sql, found)
