"""`record_outcomes` records a provider call's outcomes in one statement per
outcome state, and only on the editions the run still holds in "sending"."""

from __future__ import annotations

import itertools
from datetime import timedelta

from sqlalchemy import event, select

from digest.db.schema import editions
from digest.delivery import record_outcomes
from digest.digests import Digest
from digest.editions import Planned
from digest.mail.base import Outcome
from digest.store.digests import paper_keys, sections_of
from digest.store.editions import COUNTED_STATES
from digest.store.subscribers import get_subscriber
from tests.pipeline_helpers import DAY1, claim_edition, subscribe

RUN, OTHER = 7, 8
NOW = DAY1 + timedelta(hours=8)
PERIOD = "2026-11-22"
NUMBERS = itertools.count()


# One of each outcome a call can bring back, some with their own values.
MIXED = [
    Outcome("sent", message_id="m-1"),
    Outcome("sent", message_id="m-2"),
    Outcome("sent", message_id=None),
    Outcome("failed", error="550 no such user"),
    Outcome("failed", error="x" * 3000),
    Outcome("failed"),
    Outcome("released", error="503"),
    Outcome("unknown", error="no answer"),
    Outcome("unknown"),
]


def claimed(engine, count: int, *, status="sending", run_id=RUN) -> list[Planned]:
    """`count` editions of new subscribers, each showing two papers."""
    out = []
    for _ in range(count):
        address = f"r{next(NUMBERS)}@example.org"
        sid = subscribe(engine, address)
        with engine.begin() as conn:
            subscriber = get_subscriber(conn, address)
            keys = [f"2611.{sid:05d}", f"2611.{sid + 50000:05d}"]
            eid = claim_edition(conn, sid, PERIOD, keys, now=NOW, status=status, run_id=run_id)
        digest = Digest(PERIOD, DAY1.date(), "daily")
        out.append(Planned(subscriber, PERIOD, digest, edition_id=eid))
    return out


def rows(engine) -> dict[int, dict]:
    """Editions by id, each with "papers": how many of its papers count as sent."""
    with engine.begin() as conn:
        found = {r.id: dict(r._mapping) for r in conn.execute(select(editions))}
        records = sections_of(conn, [row["digest_id"] for row in found.values()])
    for row in found.values():
        counted = row["status"] in COUNTED_STATES
        row["papers"] = len(paper_keys(records.get(row["digest_id"]) or [])) if counted else 0
    return found


def updates_and_deletes(engine, run) -> list[str]:
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("UPDATE", "DELETE")):
            statements.append(" ".join(statement.split()[:3]))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return statements


def test_one_statement_per_state_each_edition_with_its_own_values(engine):
    planned = claimed(engine, 9)
    outcomes = MIXED
    statements = updates_and_deletes(
        engine, lambda: record_outcomes(engine, planned, outcomes, now=NOW, run_id=RUN)
    )
    # sent, failed, released (the editions go), unknown
    assert len(statements) == 4, statements
    found = rows(engine)
    ids = [p.edition_id for p in planned]
    assert [found[i]["message_id"] for i in ids[:3]] == ["m-1", "m-2", None]
    assert all(found[i]["status"] == "sent" and found[i]["papers"] == 2 for i in ids[:3])
    assert all(found[i]["sent_at"] == NOW for i in ids[:3])
    assert [found[i]["error"] for i in ids[3:6]] == ["550 no such user", "x" * 2000, "rejected"]
    assert all(found[i]["status"] == "failed" and found[i]["papers"] == 0 for i in ids[3:6])
    assert ids[6] not in found
    assert [(found[i]["status"], found[i]["error"]) for i in ids[7:]] == [
        ("unknown", "no answer"),
        ("unknown", "no reason given"),
    ]


def test_a_call_with_one_shared_message_id_is_one_update(engine):
    planned = claimed(engine, 5)
    outcomes = [Outcome("sent", message_id="sg-1")] * 5
    statements = updates_and_deletes(
        engine, lambda: record_outcomes(engine, planned, outcomes, now=NOW, run_id=RUN)
    )
    assert len(statements) == 1
    assert {r["message_id"] for r in rows(engine).values()} == {"sg-1"}


def test_only_editions_the_run_still_holds_in_sending_change(engine):
    mine = claimed(engine, 4)
    recovered = claimed(engine, 4, run_id=OTHER)  # another run took them over
    pending = claimed(engine, 4, status="pending")  # never handed over
    before = rows(engine)
    outcomes = [
        Outcome("sent", message_id="m"),
        Outcome("failed", error="no"),
        Outcome("released"),
        Outcome("unknown", error="?"),
    ]
    for batch in (mine, recovered, pending):
        record_outcomes(engine, batch, outcomes, now=NOW, run_id=RUN)
    after = rows(engine)
    for p in recovered + pending:
        assert after[p.edition_id] == before[p.edition_id]
    states = [after.get(p.edition_id, {}).get("status") for p in mine]
    assert states == ["sent", "failed", None, "unknown"]


def test_without_a_run_id_every_named_edition_is_recorded(engine):
    planned = claimed(engine, 2, status="sending", run_id=OTHER)
    record_outcomes(engine, planned, [Outcome("sent", message_id="a"), Outcome("failed")], now=NOW)
    assert [r["status"] for r in rows(engine).values()] == ["sent", "failed"]
