"""Subscribers, their preferences, and the hashed suppression list."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import Connection, bindparam, delete, func, select, type_coerce, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import NullType

from digest.db.schema import subscribers, suppressions
from digest.preferences import Preferences, TopicChoice
from digest.store.prepared import Prepared


@dataclass
class Subscriber:
    id: int
    email: str
    status: str
    prefs: Preferences
    created_at: datetime
    confirmed_at: datetime | None = None
    name: str | None = None


class SubscriberExists(Exception):
    pass


def email_hash(email: str) -> str:
    """What the suppression list keeps instead of an address."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def prefs_to_row(prefs: Preferences) -> dict:
    return {
        "topics": [
            {"slug": t.slug, "max_papers": t.max_papers, "min_upvotes": t.min_upvotes}
            for t in prefs.topics
        ],
        "keywords": list(prefs.keywords),
        "categories": list(prefs.categories),
        "authors": list(prefs.authors),
        "mute": list(prefs.mute),
        "frequency": prefs.frequency,
        "weekday": prefs.weekday,
        "timezone": prefs.timezone,
        "hour": prefs.hour,
        "max_papers": prefs.max_papers,
        "format": prefs.format,
        "cross_lists": prefs.cross_lists,
        "min_upvotes": prefs.min_upvotes,
    }


# The JSON list columns of a subscriber's preferences.
_JSON_LISTS = ("topics", "keywords", "categories", "authors", "mute")

# A subscriber row with its JSON columns as the driver returns them (no type
# processing: NullType): SQLite hands back the stored text, which `_topics`
# and `_strings` decode once per distinct text (a send reads every active
# subscriber, and most share their topics and keyword lists); PostgreSQL's
# driver hands back the decoded value.
_SUBSCRIBER_COLUMNS = tuple(
    type_coerce(column, NullType()).label(column.name) if column.name in _JSON_LISTS else column
    for column in subscribers.c
)


@lru_cache(maxsize=8192)
def _topics_from_text(text: str) -> tuple[TopicChoice, ...]:
    return tuple(TopicChoice(**t) for t in json.loads(text))


@lru_cache(maxsize=8192)
def _strings_from_text(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def _topics(value: str | list) -> list[TopicChoice]:
    """A topics column (stored text or decoded) as a new list (TopicChoice is frozen)."""
    if isinstance(value, str):
        return list(_topics_from_text(value))
    return [TopicChoice(**t) for t in value]


def _strings(value: str | list) -> list[str]:
    """A list-of-strings column (stored text or decoded) as a new list."""
    return list(_strings_from_text(value) if isinstance(value, str) else value)


def prefs_from_row(row) -> Preferences:
    """Preferences from a subscriber row, whether its JSON columns come decoded
    (`select(subscribers)`) or as stored (`_SUBSCRIBER_COLUMNS`)."""
    data = row._mapping
    return Preferences(
        topics=_topics(data["topics"]),
        keywords=_strings(data["keywords"]),
        categories=_strings(data["categories"]),
        authors=_strings(data["authors"]),
        mute=_strings(data["mute"]),
        frequency=data["frequency"],
        weekday=data["weekday"],
        timezone=data["timezone"],
        hour=data["hour"],
        max_papers=data["max_papers"],
        format=data["format"],
        cross_lists=data["cross_lists"],
        min_upvotes=data["min_upvotes"],
    )


def from_row(row) -> Subscriber:
    return Subscriber(
        id=row.id,
        email=row.email,
        status=row.status,
        prefs=prefs_from_row(row),
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
        name=row.name,
    )


def add_subscriber(
    conn: Connection,
    email: str,
    prefs: Preferences,
    *,
    status: str,
    now: datetime,
    name: str | None = None,
) -> int:
    """Insert a subscriber (email already normalised; stored lower-cased);
    SubscriberExists if the address is taken, ignoring case. The database's
    unique index on lower(email) decides, so of two inserts racing for one
    address exactly one wins; the loser's transaction stays usable (the insert
    runs in a savepoint). Callers check `is_suppressed` first: a suppressed
    address may come back only as pending, through a new double opt-in
    (`lift_suppression` on confirming)."""
    email = email.lower()
    if get_subscriber(conn, email) is not None:
        raise SubscriberExists(email)
    values = prefs_to_row(prefs) | {
        "email": email,
        "name": name,
        "status": status,
        "created_at": now,
        "confirmed_at": now if status == "active" else None,
    }
    try:
        with conn.begin_nested():
            return conn.execute(subscribers.insert().values(values)).inserted_primary_key[0]
    except IntegrityError:
        raise SubscriberExists(email) from None


def update_subscriber(
    conn: Connection,
    subscriber_id: int,
    prefs: Preferences,
    *,
    status: str | None = None,
    now: datetime,
) -> None:
    values = prefs_to_row(prefs)
    if status is not None:
        values["status"] = status
        if status == "active":
            values["confirmed_at"] = now
    conn.execute(update(subscribers).where(subscribers.c.id == subscriber_id).values(values))


def get_subscriber(conn: Connection, email: str) -> Subscriber | None:
    """Look an address up ignoring case: nobody means Ada@ and ada@ as two people."""
    query = select(*_SUBSCRIBER_COLUMNS).where(func.lower(subscribers.c.email) == email.lower())
    row = conn.execute(query).first()
    return from_row(row) if row else None


def lock_subscriber(conn: Connection, subscriber_id: int) -> None:
    """Hold the subscriber's row until the transaction ends, so two runs plan
    and claim their editions one after the other (a no-op on SQLite, whose
    claim transactions lock the whole database)."""
    query = select(subscribers.c.id).where(subscribers.c.id == subscriber_id).with_for_update()
    conn.execute(query)


def lock_active_batch(
    conn: Connection,
    *,
    after: int,
    size: int,
    email: str | None = None,
    upto: int | None = None,
) -> list[Subscriber]:
    """The next `size` active subscribers with an id above `after` (and at most
    `upto`, if given), in id order (with `email`: only that address), their
    rows held until the transaction ends. On PostgreSQL rows another
    transaction holds are skipped, not waited for: a concurrent run is
    claiming those and this one moves on (SQLite claim transactions hold the
    whole database, so nothing is held there)."""
    query = (
        select(*_SUBSCRIBER_COLUMNS)
        .where(subscribers.c.status == "active", subscribers.c.id > after)
        .order_by(subscribers.c.id)
        .limit(size)
    )
    if upto is not None:
        query = query.where(subscribers.c.id <= upto)
    if email is not None:
        query = query.where(func.lower(subscribers.c.email) == email.lower())
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [from_row(row) for row in conn.execute(query)]


def subscribers_by_id(conn: Connection, ids) -> dict[int, Subscriber]:
    query = select(*_SUBSCRIBER_COLUMNS).where(subscribers.c.id.in_(list(ids)))
    return {row.id: from_row(row) for row in conn.execute(query)}


# `active_among`'s statement: one range of the primary key, never the index
# on status (`|| ''` keeps it out); on the driver's cursor (`Prepared`), as a
# shared send runs it under SQLite's write lock once per claim batch.
_ACTIVE_IN_SPAN = Prepared(
    select(subscribers.c.id).where(
        subscribers.c.id.between(bindparam("lo"), bindparam("hi")),
        subscribers.c.status.concat("") == "active",
    )
)


def active_among(conn: Connection, ids: Sequence[int]) -> set[int]:
    """Those of `ids` whose subscriber still exists and is active, read over
    the ids' span (a batch's ids are close)."""
    if not ids:
        return set()
    wanted = set(ids)
    rows = _ACTIVE_IN_SPAN.rows(conn, {"lo": min(ids), "hi": max(ids)})
    return {row[0] for row in rows if row[0] in wanted}


def count_active(conn: Connection) -> int:
    query = select(func.count()).select_from(subscribers).where(subscribers.c.status == "active")
    return conn.execute(query).scalar_one()


def active_span(conn: Connection) -> tuple[int | None, int | None, int]:
    """(lowest id, highest id, count) of the active subscribers; (None, None, 0)
    when there are none."""
    query = select(func.min(subscribers.c.id), func.max(subscribers.c.id), func.count()).where(
        subscribers.c.status == "active"
    )
    first, last, count = conn.execute(query).one()
    return first, last, count


def list_subscribers(conn: Connection, status: str | None = None) -> list[Subscriber]:
    query = select(*_SUBSCRIBER_COLUMNS).order_by(subscribers.c.id)
    if status:
        query = query.where(subscribers.c.status == status)
    return [from_row(row) for row in conn.execute(query)]


def remove_subscriber(
    conn: Connection, email: str, *, now: datetime, reason: str = "removed"
) -> bool:
    """Erase the subscriber (their editions and sent log go with them) and keep
    only a hashed suppression entry. Returns False, and changes nothing, when
    there was no such address (suppressing a stranger would later tell them they
    "unsubscribed before")."""
    query = delete(subscribers).where(func.lower(subscribers.c.email) == email.lower())
    if not conn.execute(query).rowcount:
        return False
    suppress(conn, email, reason=reason, now=now)
    return True


def suppress(conn: Connection, email: str, *, reason: str, now: datetime) -> None:
    digest = email_hash(email)
    exists = conn.execute(
        select(suppressions.c.email_hash).where(suppressions.c.email_hash == digest)
    ).first()
    if not exists:
        conn.execute(suppressions.insert().values(email_hash=digest, reason=reason, created_at=now))


def lift_suppression(conn: Connection, email: str) -> None:
    conn.execute(delete(suppressions).where(suppressions.c.email_hash == email_hash(email)))


def is_suppressed(conn: Connection, email: str) -> bool:
    query = select(suppressions.c.email_hash).where(suppressions.c.email_hash == email_hash(email))
    return conn.execute(query).first() is not None
