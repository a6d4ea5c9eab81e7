"""Counts and latest moments for monitoring (`digest.metrics`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from digest.db.schema import editions, papers, subscribers


def subscriber_counts(conn: Connection) -> dict[str, int]:
    query = select(subscribers.c.status, func.count()).group_by(subscribers.c.status)
    return dict(conn.execute(query).all())


def paper_count(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(papers)).scalar_one()


def last_sent_at(conn: Connection) -> datetime | None:
    """When the latest edition that reached a mailer was sent."""
    query = select(func.max(editions.c.sent_at)).where(editions.c.status == "sent")
    return conn.execute(query).scalar_one()  # max() keeps UTCDateTime: aware UTC


def sent_since(conn: Connection, since: datetime) -> int:
    """Editions (messages) handed to a mailer after `since`."""
    query = (
        select(func.count())
        .select_from(editions)
        .where(editions.c.status == "sent", editions.c.sent_at > since)
    )
    return conn.execute(query).scalar_one()
