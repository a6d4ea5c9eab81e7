"""Papers: upsert merged records, read candidates."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, func, or_, select

from digest.db.schema import papers
from digest.merge import is_available, merge
from digest.papers import Paper

_FIELDS = [f.name for f in dataclasses.fields(Paper)]
_CHUNK = 500


def to_row(paper: Paper) -> dict:
    return {name: getattr(paper, name) for name in _FIELDS}


def from_row(row) -> Paper:
    data = row._mapping
    return Paper(**{name: data[name] for name in _FIELDS})


def get_papers(conn: Connection, keys: Iterable[str]) -> dict[str, Paper]:
    keys = list(dict.fromkeys(keys))
    found: dict[str, Paper] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        for row in conn.execute(select(papers).where(papers.c.key.in_(chunk))):
            found[row.key] = from_row(row)
    return found


def upsert_papers(conn: Connection, items: Sequence[Paper], now: datetime) -> tuple[int, int]:
    """Merge `items` into the stored records; return (new, updated).

    "new" counts records that became available papers for the first time (a
    replacement of a paper never seen is stored but not counted as new).
    Items with the same key in one batch merge in order.
    """
    existing = get_papers(conn, (item.key for item in items))
    created: set[str] = set()
    changed: set[str] = set()
    for item in items:
        before = existing.get(item.key)
        merged, did_change = merge(before, item, now)
        if not did_change:
            continue
        existing[item.key] = merged
        if before is None:
            created.add(item.key)
        changed.add(item.key)
    inserts = [to_row(existing[k]) for k in changed if k in created]
    if inserts:
        conn.execute(papers.insert(), inserts)
    for key in changed - created:
        row = to_row(existing[key])
        conn.execute(papers.update().where(papers.c.key == key).values(row))
    new = sum(1 for k in created if is_available(existing[k]))
    return new, len(changed) - new


def candidate_papers(
    conn: Connection,
    *,
    seen_after: datetime | None,
    dated_after: datetime,
    published_after: datetime,
) -> list[Paper]:
    """Papers that reached us after `seen_after` (first stored, or first seen
    trending; None = any time) whose own date (available_at or trending_at) is
    after `dated_after`, first published after `published_after` (retention).
    Sent-log filtering is the caller's job."""
    own_date = or_(papers.c.available_at > dated_after, papers.c.trending_at > dated_after)
    # A paper without a known first version counts from its own listing date.
    first_dated = func.coalesce(papers.c.published_at, papers.c.available_at, papers.c.trending_at)
    conditions = [own_date, first_dated > published_after]
    if seen_after is not None:
        conditions.append(
            or_(papers.c.first_seen_at > seen_after, papers.c.trending_seen_at > seen_after)
        )
    query = select(papers).where(and_(*conditions)).order_by(papers.c.key)
    return [from_row(row) for row in conn.execute(query)]


def count_papers(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(papers)).scalar_one()


def list_papers(conn: Connection) -> list[Paper]:
    return [from_row(row) for row in conn.execute(select(papers).order_by(papers.c.key))]
