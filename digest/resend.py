"""`digest send --resend-unknown`: send `unknown` editions again, on purpose.

An edition is `unknown` when a provider call may or may not have delivered it
(the answer never came, or the run died during the call). It is never resent
by itself: a duplicate is worse than a reported unknown. When the operator
decides to resend, the edition is claimed back to `pending` by the current run
and goes through the normal path (rate ceiling, hand-over fence, suppression
check, outcomes). Its sent-log rows stay: those papers were meant for it.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from digest.editions import Planned, digest_from_record
from digest.store import editions as edition_store
from digest.store.papers import get_papers
from digest.store.subscribers import get_subscriber, subscribers_by_id


def unknown_editions(engine: Engine, run_id: int, *, only: str | None = None) -> list[Planned]:
    """Claim the `unknown` editions of active subscribers (with `only`: of that
    address) for run `run_id`, rebuilt from their record of what was shown."""
    with engine.begin() as conn:
        wanted = None
        if only is not None:
            subscriber = get_subscriber(conn, only)
            wanted = [subscriber.id] if subscriber is not None else []
        rows = edition_store.take_unknown(conn, run_id=run_id, subscriber_ids=wanted)
        return planned_from_rows(conn, rows)


def planned_from_rows(conn: Connection, rows: list[dict]) -> list[Planned]:
    """Editions rebuilt from their stored record of what was shown, ready for
    `deliver_batch` (also how a send worker rebuilds the editions a queued job
    names). A subscriber erased meanwhile takes their editions with them."""
    by_id = subscribers_by_id(conn, {row["subscriber_id"] for row in rows})
    keys = [key for row in rows for s in row["sections"] or [] for key, _ in s["entries"]]
    papers = get_papers(conn, keys)
    planned = []
    for row in rows:
        subscriber = by_id.get(row["subscriber_id"])
        if subscriber is None:
            continue
        digest = digest_from_record(
            row["sections"] or [],
            papers,
            period=row["period"],
            frequency=subscriber.prefs.frequency,
            fmt=subscriber.prefs.format,
        )
        planned.append(Planned(subscriber, row["period"], digest, edition_id=row["id"]))
    return planned
