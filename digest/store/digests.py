"""What digests showed, stored once per distinct (period, sections) and shared
by every edition that showed exactly that (DESIGN.md "What was shown").

A digest row is written in the transaction that claims its first edition and
is never changed; identical digests claimed by two runs at once meet on the
unique `key` (the loser's insert does nothing and it reads the winner's id).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import Connection, delete, exists, select, type_coerce
from sqlalchemy.types import NullType

from digest.db.schema import digests, editions
from digest.store.upsert import insert_new


def record_key(period: str, sections: list[dict]) -> str:
    """The identity of what a digest showed (migration 0007 holds a frozen copy)."""
    text = json.dumps([period, sections], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def paper_keys(sections: list[dict]) -> list[str]:
    return [entry[0] for section in sections for entry in section["entries"]]


def save_digests(
    conn: Connection, records: Mapping[str, tuple[str, list[dict]]], *, now: datetime
) -> dict[str, int]:
    """Make sure a row exists for each `key -> (period, sections)`; returns each
    key's id: a lookup, the new rows (`insert_new`: one statement on
    PostgreSQL, one per 64 rows on SQLite), and a second lookup when another
    run inserted some of the keys meanwhile.

    New rows go in in key order: a transaction inserting a key another one has
    inserted but not committed waits for it, and one order for everyone means
    two runs never wait for each other in a circle (a deadlock)."""
    ids = _ids(conn, records)
    new = [
        {
            "key": key,
            "period": period,
            "sections": sections,
            "paper_count": len(paper_keys(sections)),
            "created_at": now,
        }
        for key, (period, sections) in sorted(records.items())
        if key not in ids
    ]
    if new:
        ids.update(insert_new(conn, digests, new, key=("key",), returning=("key", "id")))
        # A key another run inserted meanwhile returns nothing: read its id.
        ids.update(_ids(conn, [row["key"] for row in new if row["key"] not in ids]))
    return ids


def _ids(conn: Connection, keys: Collection[str]) -> dict[str, int]:
    if not keys:
        return {}
    query = select(digests.c.key, digests.c.id).where(digests.c.key.in_(list(keys)))
    return dict(conn.execute(query).all())


def sections_of(conn: Connection, digest_ids: Collection[int]) -> dict[int, list[dict]]:
    """Each digest's sections record."""
    ids = [i for i in set(digest_ids) if i is not None]
    if not ids:
        return {}
    query = select(digests.c.id, digests.c.sections).where(digests.c.id.in_(ids))
    return dict(conn.execute(query).all())


def keys_of(conn: Connection, digest_ids: Collection[int]) -> dict[int, list[str]]:
    """Each digest's paper keys (`paper_keys` of its sections), in one query.
    The sections are read as stored (no type processing: NullType) and decoded
    here: SQLite hands back the text, PostgreSQL's driver the decoded value."""
    ids = [i for i in set(digest_ids) if i is not None]
    if not ids:
        return {}
    stored = type_coerce(digests.c.sections, NullType())
    query = select(digests.c.id, stored).where(digests.c.id.in_(ids))
    return {
        digest_id: paper_keys(json.loads(sections) if isinstance(sections, str) else sections)
        for digest_id, sections in conn.execute(query)
    }


def prune_digests(conn: Connection, *, before: datetime) -> int:
    """Delete digests made before `before` that no edition points at any more."""
    unused = ~exists().where(editions.c.digest_id == digests.c.id)
    return conn.execute(delete(digests).where(digests.c.created_at < before, unused)).rowcount
