"""What a batch of subscribers already had, in a few queries for the whole batch
(the per-subscriber reads are in `digest.store.editions`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, func, select

from digest.db.schema import editions, sent_log
from digest.store.editions import COUNTED_STATES

# Subscriber ids per query: well under SQLite's and PostgreSQL's parameter limits.
CHUNK = 500


def _chunks(ids: Iterable[int]) -> list[list[int]]:
    unique = list(dict.fromkeys(ids))
    return [unique[i : i + CHUNK] for i in range(0, len(unique), CHUNK)]


def last_claims(conn: Connection, subscriber_ids: Iterable[int]) -> dict[int, datetime]:
    """Claim time of each subscriber's latest counted edition (subscribers
    without one are absent); `last_edition(...)["claimed_at"]` for many."""
    out: dict[int, datetime] = {}
    for chunk in _chunks(subscriber_ids):
        query = (
            select(editions.c.subscriber_id, func.max(editions.c.claimed_at))
            .where(editions.c.subscriber_id.in_(chunk), editions.c.status.in_(COUNTED_STATES))
            .group_by(editions.c.subscriber_id)
        )
        for subscriber_id, claimed_at in conn.execute(query):
            # func.max loses the column type: make it aware UTC like the column.
            out[subscriber_id] = editions.c.claimed_at.type.process_result_value(
                _naive(claimed_at), conn.dialect
            )
    return out


def sent_keys_by_subscriber(conn: Connection, subscriber_ids: Iterable[int]) -> dict[int, set[str]]:
    """Every paper key sent to each subscriber (an empty set for none);
    `sent_keys` for many, read along the sent log's primary key."""
    chunks = _chunks(subscriber_ids)
    out: dict[int, set[str]] = {sid: set() for chunk in chunks for sid in chunk}
    for chunk in chunks:
        query = select(sent_log.c.subscriber_id, sent_log.c.paper_key).where(
            sent_log.c.subscriber_id.in_(chunk)
        )
        for subscriber_id, key in conn.execute(query):
            out[subscriber_id].add(key)
    return out


def _naive(value):
    """SQLite returns max() of a datetime column as text; PostgreSQL as a datetime."""
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value.replace(tzinfo=None) if value is not None and value.tzinfo else value
