"""What the mail provider tells us afterwards (SendGrid's Event Webhook):
processed event ids, edition delivery outcomes, bounce counting.

The rules (DESIGN.md "Suppression") live in `subscribers.webhook`; this module
only reads and writes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from digest.db.schema import editions, subscribers, webhook_events

EVENT_RETENTION = timedelta(days=30)


def first_time(conn: Connection, event_id: str, *, now: datetime) -> bool:
    """Record `event_id`; False when it was processed before (in the caller's
    transaction, so a rolled-back event is not marked done)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(webhook_events)
        .values(event_id=event_id[:128], received_at=now)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(webhook_events.c.event_id)
    )
    return conn.execute(statement).scalar_one_or_none() is not None


def prune_events(conn: Connection, *, now: datetime) -> int:
    old = webhook_events.c.received_at < now - EVENT_RETENTION
    return conn.execute(delete(webhook_events).where(old)).rowcount


def set_delivery(conn: Connection, edition_id: int, outcome: str) -> int | None:
    """Note the provider's outcome on an edition; its subscriber id, or None."""
    row = conn.execute(select(editions.c.subscriber_id).where(editions.c.id == edition_id)).first()
    if row is None:
        return None
    conn.execute(update(editions).where(editions.c.id == edition_id).values(delivery=outcome[:16]))
    return row.subscriber_id


def count_soft_bounce(conn: Connection, subscriber_id: int) -> int:
    """One more soft bounce in a row; the new count."""
    conn.execute(
        update(subscribers)
        .where(subscribers.c.id == subscriber_id)
        .values(soft_bounces=subscribers.c.soft_bounces + 1)
    )
    query = select(subscribers.c.soft_bounces).where(subscribers.c.id == subscriber_id)
    return conn.execute(query).scalar_one_or_none() or 0


def reset_soft_bounces(conn: Connection, subscriber_id: int) -> None:
    conn.execute(
        update(subscribers).where(subscribers.c.id == subscriber_id).values(soft_bounces=0)
    )
