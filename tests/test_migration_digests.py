"""Revision 0007 (shared digests replace the sent log) with data in the tables:
everything each subscriber was sent stays "sent" across the upgrade, identical
records share one digest row, and the downgrade rebuilds the sent log."""

import json
from datetime import datetime

from alembic import command
from sqlalchemy import func, select, text

from digest.db.engine import alembic_config
from digest.db.schema import digests
from digest.store.editions import sent_keys

THEN = datetime(2026, 11, 19, 8)  # naive: the 0001 columns store UTC without a zone
SHOWN = [{"slug": "nlp", "title": "NLP", "entries": [["2611.00001", "cs.CL"]]}]

# (edition id, subscriber, period, status, sections, sent-log keys)
EDITIONS = [
    (1, 1, "2026-11-18", "sent", SHOWN, ["2611.00001"]),
    (2, 2, "2026-11-18", "sent", SHOWN, ["2611.00001"]),  # the same digest as 1
    (3, 1, "2026-11-19", "unknown", None, ["2611.00002", "2611.00003"]),  # no record kept
    (4, 2, "2026-11-19", "failed", SHOWN, []),  # failed: its papers were forgotten
    (5, 2, "2026-11-20", "empty", None, []),
]


def _subscriber(conn, sid: int) -> None:
    conn.execute(
        text(
            "INSERT INTO subscribers (id, email, status, topics, keywords, categories,"
            " authors, mute, frequency, weekday, timezone, hour, max_papers, format,"
            " cross_lists, min_upvotes, created_at, soft_bounces) VALUES (:id, :e,"
            " 'active', '[]', '[]', '[]', '[]', '[]', 'daily', 0, 'UTC', 7, 10, 'html',"
            " true, 0, :t, 0)"
        ),
        {"id": sid, "e": f"s{sid}@example.org", "t": THEN},
    )


def test_0007_keeps_what_was_sent_and_the_downgrade_rebuilds_the_sent_log(engine):
    config = alembic_config(engine)
    command.downgrade(config, "0006")
    with engine.begin() as conn:
        for sid in (1, 2):
            _subscriber(conn, sid)
        for eid, sid, period, status, sections, keys in EDITIONS:
            conn.execute(
                text(
                    "INSERT INTO editions (id, subscriber_id, period, status, claimed_at,"
                    " leased_at, paper_count, sections) VALUES (:id, :sid, :p, :s, :t, :t,"
                    " :n, :sections)"
                ),
                {
                    "id": eid,
                    "sid": sid,
                    "p": period,
                    "s": status,
                    "t": THEN,
                    "n": len(keys),
                    "sections": None if sections is None else json.dumps(sections),
                },
            )
            for key in keys:
                conn.execute(
                    text(
                        "INSERT INTO sent_log (subscriber_id, paper_key, edition_id, sent_at)"
                        " VALUES (:sid, :k, :eid, :t)"
                    ),
                    {"sid": sid, "k": key, "eid": eid, "t": THEN},
                )
    command.upgrade(config, "0007")
    with engine.begin() as conn:
        assert sent_keys(conn, 1) == {"2611.00001", "2611.00002", "2611.00003"}
        assert sent_keys(conn, 2) == {"2611.00001"}
        # 1 and 2 share a row; 3 got one from its sent-log rows; the failed 4
        # keeps its record (another period) but its papers do not count.
        assert conn.execute(select(func.count()).select_from(digests)).scalar_one() == 3

    command.downgrade(config, "0006")
    with engine.begin() as conn:
        rows = conn.execute(
            text("SELECT subscriber_id, paper_key, edition_id FROM sent_log ORDER BY 1, 2")
        ).all()
        assert [tuple(r) for r in rows] == [
            (1, "2611.00001", 1),
            (1, "2611.00002", 3),
            (1, "2611.00003", 3),
            (2, "2611.00001", 2),
        ]
    command.upgrade(config, "head")
