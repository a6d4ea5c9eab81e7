"""Editions (one per subscriber and period) and the sent log.

The claim is a single transaction: the edition row and its sent-log rows are
written together, and the unique (subscriber, period) key decides who wins when
two runs race. Delivery states: pending (claimed, not yet handed to a mailer)
-> sending -> sent | failed | unknown; "empty" marks a period with nothing to
send. Released editions are deleted with their sent-log rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, delete, func, select, update

from digest.db.schema import editions, sent_log

# Editions whose papers count as received (their claim moves the cutoff).
COUNTED_STATES = ("pending", "sending", "sent", "unknown", "empty")


def _insert(conn: Connection, table):
    # Imported here: loading the PostgreSQL dialect costs a SQLite run at start-up.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def claim_edition(
    conn: Connection,
    subscriber_id: int,
    period: str,
    paper_keys: Iterable[str],
    *,
    now: datetime,
    leased_at: datetime,
    status: str = "pending",
    rendering_key: str | None = None,
    sections: list | None = None,
) -> int | None:
    """Claim (subscriber, period) and record its papers as sent, atomically with
    the caller's transaction. Returns the edition id, or None when the period
    was already claimed (by this run or another).

    `now` is when the edition's candidates were taken (the next edition counts
    from it); `leased_at` is the wall-clock time of the claim, which tells a
    claim left by a dead run from one still in progress. A paper already in the
    sent log makes the insert fail: the caller's plan was made from a stale read,
    and sending it would send a paper twice."""
    keys = list(dict.fromkeys(paper_keys))
    statement = (
        _insert(conn, editions)
        .values(
            subscriber_id=subscriber_id,
            period=period,
            status=status,
            claimed_at=now,
            leased_at=leased_at,
            paper_count=len(keys),
            rendering_key=rendering_key,
            sections=sections,
        )
        .on_conflict_do_nothing(index_elements=["subscriber_id", "period"])
        .returning(editions.c.id)
    )
    edition_id = conn.execute(statement).scalar_one_or_none()
    if edition_id is None:
        return None
    if keys:
        rows = [
            {
                "subscriber_id": subscriber_id,
                "paper_key": k,
                "edition_id": edition_id,
                "sent_at": now,
            }
            for k in keys
        ]
        conn.execute(sent_log.insert(), rows)
    return edition_id


def last_edition(conn: Connection, subscriber_id: int) -> dict | None:
    """The latest edition that counts (by claim time), or None."""
    query = (
        select(editions)
        .where(editions.c.subscriber_id == subscriber_id, editions.c.status.in_(COUNTED_STATES))
        .order_by(editions.c.claimed_at.desc(), editions.c.id.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return dict(row._mapping) if row else None


def claimed_periods(conn: Connection, subscriber_id: int) -> list[str]:
    """Every period claimed for the subscriber, in any state."""
    query = select(editions.c.period).where(editions.c.subscriber_id == subscriber_id)
    return list(conn.execute(query).scalars())


def get_edition(conn: Connection, subscriber_id: int, period: str) -> dict | None:
    query = select(editions).where(
        editions.c.subscriber_id == subscriber_id, editions.c.period == period
    )
    row = conn.execute(query).first()
    return dict(row._mapping) if row else None


def sent_keys(conn: Connection, subscriber_id: int) -> set[str]:
    query = select(sent_log.c.paper_key).where(sent_log.c.subscriber_id == subscriber_id)
    return set(conn.execute(query).scalars())


def set_status(conn: Connection, edition_ids: Iterable[int], status: str, **values) -> None:
    ids = list(edition_ids)
    if ids:
        conn.execute(update(editions).where(editions.c.id.in_(ids)).values(status=status, **values))


def mark_failed(conn: Connection, edition_id: int, error: str) -> None:
    """Rejected on its merits: keep the edition (not retried), forget its papers."""
    set_status(conn, [edition_id], "failed", error=error[:2000])
    conn.execute(delete(sent_log).where(sent_log.c.edition_id == edition_id))


def release(conn: Connection, edition_ids: Iterable[int]) -> None:
    """Certainly not delivered: remove the claim and its sent-log rows so the
    next run sends it."""
    ids = list(edition_ids)
    if ids:
        conn.execute(delete(sent_log).where(sent_log.c.edition_id.in_(ids)))
        conn.execute(delete(editions).where(editions.c.id.in_(ids)))


def release_stale(conn: Connection, *, leased_before: datetime) -> tuple[int, int]:
    """Tidy editions left by a run that died. Pending ones (never handed to a
    mailer) are released so the next run sends them; ones left "sending" may
    have gone out and become "unknown". Returns (released, made unknown)."""
    stale = editions.c.leased_at < leased_before
    pending = select(editions.c.id).where(editions.c.status == "pending", stale)
    ids = list(conn.execute(pending).scalars())
    release(conn, ids)
    interrupted = conn.execute(
        update(editions)
        .where(editions.c.status == "sending", stale)
        .values(status="unknown", error="the sending run was interrupted")
    ).rowcount
    return len(ids), interrupted


def prune_sent_log(conn: Connection, *, before: datetime) -> int:
    return conn.execute(delete(sent_log).where(sent_log.c.sent_at < before)).rowcount


def status_counts(conn: Connection) -> dict[str, int]:
    query = select(editions.c.status, func.count()).group_by(editions.c.status)
    return dict(conn.execute(query).all())


def recent_editions(conn: Connection, limit: int = 10) -> list[dict]:
    query = (
        select(editions).order_by(editions.c.claimed_at.desc(), editions.c.id.desc()).limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def editions_of(conn: Connection, subscriber_id: int) -> list[dict]:
    """Every edition of one subscriber, oldest claim first (`digest sent`)."""
    query = (
        select(editions)
        .where(editions.c.subscriber_id == subscriber_id)
        .order_by(editions.c.claimed_at, editions.c.id)
    )
    return [dict(row._mapping) for row in conn.execute(query)]
