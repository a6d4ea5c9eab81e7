"""The statements that name editions by id find them by the primary key on
PostgreSQL even while a send holds many pending claims that the table's
statistics (taken before the send) do not know of. Otherwise the planner goes
through the partial index over unsettled states and reads every pending
edition at each provider call (measured: 150 ms a hand-over with 95,000
pending)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import insert, text

from digest.db.engine import open_engine, upgrade
from digest.db.schema import digests, editions, subscribers
from digest.preferences import Preferences
from digest.store import editions as edition_store
from digest.store.queued import mark_queued
from digest.store.subscribers import prefs_to_row
from tests.fresh_db import postgres_database
from tests.pipeline_helpers import DAY1

pytestmark = pytest.mark.skipif(
    not os.environ.get("DIGEST_TEST_DATABASE_URL"), reason="needs PostgreSQL"
)
RUN, SETTLED, PENDING = 3, 20_000, 5_000


@pytest.fixture
def pg_engine():
    with postgres_database("digest_hand_over_plan") as url:
        engine = open_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()


def fill(engine) -> list[int]:
    """SETTLED sent editions, statistics taken, then PENDING claims of run RUN
    (as a send makes them after the last ANALYZE); returns the pending ids."""
    prefs = prefs_to_row(Preferences())
    people = [
        prefs | {"id": i, "email": f"r{i}@example.org", "status": "active", "created_at": DAY1}
        for i in range(1, SETTLED + PENDING + 1)
    ]
    row = {"period": "2026-01-01", "claimed_at": DAY1, "paper_count": 1, "digest_id": 1}
    with engine.begin() as conn:
        conn.execute(insert(subscribers), people)
        conn.execute(
            insert(digests).values(
                id=1, key="k", period="2026-01-01", sections=[], paper_count=0, created_at=DAY1
            )
        )
        sent = [row | {"subscriber_id": i, "status": "sent"} for i in range(1, SETTLED + 1)]
        conn.execute(insert(editions), sent)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
    pending = [
        row | {"subscriber_id": i, "status": "pending", "run_id": RUN}
        for i in range(SETTLED + 1, SETTLED + PENDING + 1)
    ]
    with engine.begin() as conn:
        ids = conn.execute(insert(editions).returning(editions.c.id), pending).scalars().all()
    return sorted(ids)


def plan(conn, statement, params: dict) -> str:
    compiled = statement.compile(dialect=conn.dialect)
    sql = str(compiled) % {k: f"'{v}'" if isinstance(v, str) else v for k, v in params.items()}
    return "\n".join(conn.execute(text("EXPLAIN " + sql)).scalars())


def test_hand_over_finds_its_editions_by_id_while_many_are_pending(pg_engine):
    ids = fill(pg_engine)
    call = ids[100:103]
    size = edition_store._list_size(len(call))
    move, left, _ = edition_store._hand_over_statements(size)
    params = {**edition_store._list_params("ids", call, size), "run": RUN}
    with pg_engine.begin() as conn:
        compiled = move.compile(dialect=conn.dialect)
        bound = {**compiled.params, **params, "mailer_name": "sendgrid"}
        for statement in (move, left):
            found = plan(conn, statement, {**bound, **params})
            assert "pk_editions" in found and "ix_editions_open" not in found, found
        # And the statements do what they say.
        moved, gone = edition_store.hand_over(conn, call, run_id=RUN, mailer="sendgrid")
    assert moved == call and gone == []
    with pg_engine.begin() as conn:
        assert mark_queued(conn, ids[200:202], run_id=RUN) == ids[200:202]
        assert edition_store.release_pending_ids(conn, ids[300:302], run_id=RUN) == 2
