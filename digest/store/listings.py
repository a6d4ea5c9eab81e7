"""Read-only paper listings for the web pages: a day's papers, a date range."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, and_, func, or_, select

from digest.db.schema import papers
from digest.papers import Paper
from digest.store.papers import from_row

MAX_LISTED = 500


def dated_between(conn: Connection, start: datetime, end: datetime) -> list[Paper]:
    """Papers whose own date (announcement or trending listing) lies in [start, end)."""
    announced = and_(papers.c.available_at >= start, papers.c.available_at < end)
    trending = and_(papers.c.trending_at >= start, papers.c.trending_at < end)
    query = select(papers).where(or_(announced, trending)).order_by(papers.c.key).limit(MAX_LISTED)
    return [from_row(row) for row in conn.execute(query)]


def on_day(conn: Connection, day: date) -> list[Paper]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return dated_between(conn, start, start + timedelta(days=1))


def latest_day(conn: Connection, *, not_after: datetime) -> date | None:
    """The latest UTC date, up to `not_after`, on which some paper is dated."""
    found = []
    for column in (papers.c.available_at, papers.c.trending_at):
        query = select(func.max(column)).where(column <= not_after)
        moment = conn.execute(query).scalar_one_or_none()
        if moment is not None:
            found.append(moment)
    return max(found).date() if found else None
