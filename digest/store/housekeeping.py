"""The deletes of the daily housekeeping job (see `digest.jobs.housekeeping`)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Connection, and_, delete, func, select

from digest.db.schema import editions, fetch_state, subscribers


def prune_editions(conn: Connection, *, before: datetime) -> int:
    """Delete editions claimed before `before`, except each subscriber's latest
    claim: `due()` counts from the latest claimed period, so removing it could
    make that period due again. What they showed is older than any candidate
    can be (see `digest.selection`); their digests are pruned once no edition
    points at them (`digest.store.digests.prune_digests`)."""
    latest = select(func.max(editions.c.id)).group_by(editions.c.subscriber_id)
    old = select(editions.c.id).where(editions.c.claimed_at < before, editions.c.id.not_in(latest))
    ids = list(conn.execute(old).scalars())
    for start in range(0, len(ids), 500):
        conn.execute(delete(editions).where(editions.c.id.in_(ids[start : start + 500])))
    return len(ids)


def prune_unconfirmed(conn: Connection, *, created_before: datetime) -> int:
    """Delete sign-ups that were never confirmed and whose confirmation link has
    expired. Someone who confirmed once and is pending again (a new opt-in
    after leaving) is kept: their row says they left."""
    return conn.execute(
        delete(subscribers).where(
            and_(
                subscribers.c.status == "pending",
                subscribers.c.confirmed_at.is_(None),
                subscribers.c.unsubscribed_at.is_(None),
                subscribers.c.created_at < created_before,
            )
        )
    ).rowcount


def prune_fetch_states(conn: Connection, *, keep: Collection[str]) -> int:
    """Delete the fetch state of sources that are no longer configured."""
    query = delete(fetch_state)
    if keep:
        query = query.where(fetch_state.c.source.not_in(list(keep)))
    return conn.execute(query).rowcount
