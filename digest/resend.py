"""`digest send --resend-unknown`: send `unknown` editions again, on purpose.

An edition is `unknown` when a provider call may or may not have delivered it
(the answer never came, or the run died during the call). It is never resent
by itself: a duplicate is worse than a reported unknown. When the operator
decides to resend, the edition is claimed back to `pending` by the current run
and goes through the normal path (rate ceiling, hand-over fence, suppression
check, outcomes). Its sent-log rows stay: those papers were meant for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from digest.editions import Planned, digest_from_record
from digest.store import editions as edition_store
from digest.store.papers import get_papers
from digest.store.subscribers import Subscriber


def unknown_editions(
    engine: Engine, run_id: int, subscribers: Sequence[Subscriber], *, every: bool
) -> list[Planned]:
    """Claim the `unknown` editions of `subscribers` (`every`: of all active
    subscribers, which `subscribers` lists) for run `run_id`, rebuilt from
    their record of what was shown."""
    by_id = {s.id: s for s in subscribers}
    with engine.begin() as conn:
        wanted = None if every else list(by_id)
        rows = edition_store.take_unknown(conn, run_id=run_id, subscriber_ids=wanted)
        # A subscriber who became active after `subscribers` was read: next time.
        strays = [row["id"] for row in rows if row["subscriber_id"] not in by_id]
        edition_store.set_status(conn, strays, "unknown", error=edition_store.RESEND_LATER)
        rows = [row for row in rows if row["subscriber_id"] in by_id]
        keys = [key for row in rows for s in row["sections"] or [] for key, _ in s["entries"]]
        papers = get_papers(conn, keys)
    planned = []
    for row in rows:
        subscriber = by_id[row["subscriber_id"]]
        digest = digest_from_record(
            row["sections"] or [],
            papers,
            period=row["period"],
            frequency=subscriber.prefs.frequency,
            fmt=subscriber.prefs.format,
        )
        planned.append(Planned(subscriber, row["period"], digest, edition_id=row["id"]))
    return planned
