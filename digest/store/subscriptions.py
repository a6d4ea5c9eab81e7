"""Subscription state as the web app changes it: status moves, consent records
and the confirmation-email throttle (DESIGN.md "Confirmation emails").

Statuses: pending -> active (confirmed) -> unsubscribed | suppressed; people who
left come back only as pending, through a new double opt-in.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, select, update

from digest.db.schema import confirmation_sends, consents, editions, subscribers
from digest.store.digests import paper_keys, sections_of
from digest.store.subscribers import Subscriber, email_hash, from_row

# At most one confirmation email per address per hour and three per day.
CONFIRM_LIMITS = ((timedelta(hours=1), 1), (timedelta(days=1), 3))
FORM_VERSION = "web-1"


def get_by_id(conn: Connection, subscriber_id: int) -> Subscriber | None:
    row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
    return from_row(row) if row else None


def set_status(conn: Connection, subscriber_id: int, status: str, *, now: datetime) -> None:
    """Move a subscriber to `status`; confirming stamps `confirmed_at` and clears
    the soft-bounce count, leaving stamps `unsubscribed_at`."""
    values: dict = {"status": status}
    if status == "active":
        values |= {"confirmed_at": now, "soft_bounces": 0, "unsubscribed_at": None}
    elif status in ("unsubscribed", "suppressed"):
        values["unsubscribed_at"] = now
    conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(values))


def set_name(conn: Connection, subscriber_id: int, name: str | None) -> None:
    conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(name=name))


def record_consent(
    conn: Connection,
    subscriber_id: int,
    action: str,
    *,
    now: datetime,
    ip: str | None,
    user_agent: str | None,
    form_version: str = FORM_VERSION,
) -> None:
    conn.execute(
        consents.insert().values(
            subscriber_id=subscriber_id,
            action=action,
            created_at=now,
            ip=(ip or "")[:64] or None,
            user_agent=(user_agent or "")[:300] or None,
            form_version=form_version,
        )
    )


def consent_records(conn: Connection, subscriber_id: int) -> list[dict]:
    query = (
        select(consents)
        .where(consents.c.subscriber_id == subscriber_id)
        .order_by(consents.c.created_at, consents.c.id)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def may_send_confirmation(conn: Connection, email: str, *, now: datetime) -> bool:
    """False when the address already got its share of confirmation emails."""
    digest = email_hash(email)
    for window, most in CONFIRM_LIMITS:
        query = select(func.count()).where(
            confirmation_sends.c.email_hash == digest, confirmation_sends.c.sent_at > now - window
        )
        if conn.execute(query).scalar_one() >= most:
            return False
    return True


def record_confirmation_sent(conn: Connection, email: str, *, now: datetime) -> None:
    conn.execute(confirmation_sends.insert().values(email_hash=email_hash(email), sent_at=now))


def prune_confirmation_sends(conn: Connection, *, now: datetime) -> int:
    """Forget throttle rows older than the longest window."""
    oldest = now - max(window for window, _ in CONFIRM_LIMITS)
    return conn.execute(
        delete(confirmation_sends).where(confirmation_sends.c.sent_at < oldest)
    ).rowcount


def edition_history(conn: Connection, subscriber_id: int) -> list[dict]:
    """Every edition of the subscriber with the paper keys it showed (export)."""
    query = (
        select(editions)
        .where(editions.c.subscriber_id == subscriber_id)
        .order_by(editions.c.claimed_at, editions.c.id)
    )
    rows = conn.execute(query).all()
    records = sections_of(conn, [row.digest_id for row in rows])
    out = []
    for row in rows:
        keys = sorted(paper_keys(records.get(row.digest_id) or []))
        out.append(
            {
                "period": row.period,
                "status": row.status,
                "delivery": row.delivery,
                "claimed_at": row.claimed_at.isoformat(),
                "sent_at": row.sent_at.isoformat() if row.sent_at else None,
                "papers": keys,
            }
        )
    return out
