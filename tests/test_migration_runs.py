"""Revision 0003 (runs, the candidate floor, the send-rate bucket) upward from
0001 with data in the tables; claims from before runs are recovered as orphans."""

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import select, text

from digest.db.engine import alembic_config, current_revision, head_revision
from digest.db.schema import editions
from digest.runs import recover_dead_runs
from digest.store.editions import sent_keys

THEN = datetime(2026, 11, 19, 8)  # naive: the 0001 columns store UTC without a zone


def test_it_migrates_from_0001_keeping_editions_and_recovers_old_claims(engine):
    config = alembic_config(engine)
    command.downgrade(config, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO subscribers (id, email, status, topics, keywords, categories,"
                " authors, mute, frequency, weekday, timezone, hour, max_papers, format,"
                " cross_lists, min_upvotes, created_at, soft_bounces) VALUES (1, 'a@example.org',"
                " 'active', '[]', '[]', '[]', '[]', '[]', 'daily', 0, 'UTC', 7, 10, 'html',"
                " true, 0, :t, 0)"
            ),
            {"t": THEN},
        )
        for eid, status in [(1, "sent"), (2, "pending"), (3, "sending")]:
            conn.execute(
                text(
                    "INSERT INTO editions (id, subscriber_id, period, status, claimed_at,"
                    " leased_at, paper_count) VALUES (:id, 1, :p, :s, :t, :t, 1)"
                ),
                {"id": eid, "p": f"2026-11-1{eid}", "s": status, "t": THEN},
            )
            conn.execute(
                text(
                    "INSERT INTO sent_log (subscriber_id, paper_key, edition_id, sent_at)"
                    " VALUES (1, :k, :id, :t)"
                ),
                {"k": f"2611.0000{eid}", "id": eid, "t": THEN},
            )
    command.upgrade(config, "head")
    assert current_revision(engine) == head_revision()
    with engine.begin() as conn:
        rows = conn.execute(select(editions.c.id, editions.c.status, editions.c.run_id)).all()
    assert sorted(rows) == [(1, "sent", None), (2, "pending", None), (3, "sending", None)]
    counts = recover_dead_runs(engine, None, now=datetime(2026, 11, 20, tzinfo=UTC))
    assert counts == {"released": 1, "unknown": 1}
    with engine.begin() as conn:
        states = dict(conn.execute(select(editions.c.id, editions.c.status)).all())
        papers = sent_keys(conn, 1)
    assert states == {1: "sent", 3: "unknown"}
    assert papers == {"2611.00001", "2611.00003"}
