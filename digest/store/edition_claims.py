"""Claiming editions in bulk, and reading what planning a batch needs.

`claim_editions` writes a batch's claims with a handful of statements: the
digests they show (shared, `digest.store.digests`), then the edition rows,
whose unique (subscriber, period) key decides who wins when two runs race.
`histories` reads the small columns of every edition of a batch's
subscribers in one query.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, select

from digest.db.schema import editions
from digest.store.digests import paper_keys, record_key, save_digests
from digest.store.upsert import insert


@dataclass
class Claim:
    """One edition to claim: `sections` is what it shows ([] for none)."""

    subscriber_id: int
    period: str
    status: str
    sections: list
    reached_after: datetime | None = None


def claim_editions(
    conn: Connection,
    claims: Sequence[Claim],
    *,
    now: datetime,
    run_id: int | None = None,
) -> dict[int, int]:
    """Claim many editions in the caller's transaction with a handful of
    statements: their digests (shared, by `record_key`), then the edition rows.
    Returns subscriber id -> edition id for the claims that were made; one whose
    (subscriber, period) was already claimed is left out. At most one claim per
    subscriber. `now` is when the candidates were taken (the next edition counts
    from it); whose claim it is, and whether its run lives, is `run_id`'s
    business."""
    if not claims:
        return {}
    keys, known = {}, {}  # record keys, computed once per shared sections list
    for c in claims:
        if c.sections:
            memo = (c.period, id(c.sections))
            if memo not in known:
                known[memo] = record_key(c.period, c.sections)
            keys[c.subscriber_id] = known[memo]
    records = {keys[c.subscriber_id]: (c.period, c.sections) for c in claims if c.sections}
    digest_ids = save_digests(conn, records, now=now)
    rows = [
        {
            "subscriber_id": c.subscriber_id,
            "period": c.period,
            "status": c.status,
            "claimed_at": now,
            "paper_count": len(paper_keys(c.sections)),
            "digest_id": digest_ids.get(keys.get(c.subscriber_id)),
            "run_id": run_id,
            "reached_after": c.reached_after,
        }
        for c in claims
    ]
    statement = (
        insert(conn, editions)
        .on_conflict_do_nothing(index_elements=["subscriber_id", "period"])
        .returning(editions.c.subscriber_id, editions.c.id)
    )
    return dict(conn.execute(statement, rows).all())


class HistoryRow(NamedTuple):
    period: str
    status: str
    claimed_at: datetime
    reached_after: datetime | None
    digest_id: int | None


def histories(conn: Connection, subscriber_ids: Collection[int]) -> dict[int, list[HistoryRow]]:
    """Every edition of each subscriber, small columns only, in one query: what
    planning a batch needs (claimed periods, the candidates floor, what was
    received). Subscribers without editions are left out."""
    columns = (
        editions.c.subscriber_id,
        editions.c.period,
        editions.c.status,
        editions.c.claimed_at,
        editions.c.reached_after,
        editions.c.digest_id,
    )
    query = select(*columns).where(editions.c.subscriber_id.in_(list(subscriber_ids)))
    found: dict[int, list[HistoryRow]] = {}
    for sid, *rest in conn.execute(query):
        found.setdefault(sid, []).append(HistoryRow(*rest))
    return found
