"""What subscribers have received, read from the shared digests of their
counted editions and kept for the run (a digest row never changes).

A candidate can have been sent to a subscriber only in an edition claimed
after the paper first reached us (a send shows only stored papers), so the
check for a planned digest reads only the digests of editions claimed since
its oldest paper was first seen: for the usual day's digest of new papers,
none at all; for a paper trending again months later, that stretch of the
subscriber's editions, however long (within the retention period).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection

from digest.digests import Digest
from digest.selection import CLOCK_MARGIN
from digest.store.digests import keys_of
from digest.store.edition_claims import HistoryRow
from digest.store.editions import COUNTED_STATES


class Received:
    """The paper keys of every digest the run has read, kept for the run: a
    batch's readers ask again and again for digests read batches before
    (dropping the least recently used at 50,000 made a 1,000,000-subscriber
    send 2.6 times slower, re-reading them). Each as a tuple of interned
    keys: 104 bytes for eight, where a frozenset takes 728."""

    def __init__(self) -> None:
        self._keys: dict[int, tuple[str, ...]] = {}

    def load(self, conn: Connection, digest_ids: Iterable[int]) -> None:
        """Read the digests not read yet, in one query."""
        missing = {i for i in digest_ids if i not in self._keys}
        for digest_id, keys in keys_of(conn, missing).items():
            self._keys[digest_id] = tuple(map(sys.intern, keys))

    def keys(self, digest_ids: Iterable[int]) -> set[str]:
        """Papers of loaded digests (`load` them first)."""
        out: set[str] = set()
        for digest_id in digest_ids:
            out.update(self._keys[digest_id])
        return out


def counted(rows: Sequence[HistoryRow], since: datetime | None = None) -> list[int]:
    """Digest ids of the counted editions among `rows` (claimed at or after `since`)."""
    return [
        r.digest_id
        for r in rows
        if r.digest_id is not None
        and r.status in COUNTED_STATES
        and (since is None or r.claimed_at >= since)
    ]


def could_hold(digest: Digest, rows: Sequence[HistoryRow]) -> list[int]:
    """Digest ids of the editions among `rows` that could have shown a paper of
    `digest`: counted, claimed since `reached_since(digest)`."""
    if not digest.papers:
        return []
    return counted(rows, since=reached_since(digest))


def reached_since(digest: Digest) -> datetime | None:
    """How far back an edition could have shown a paper of `digest`: since its
    oldest stamped paper first reached us (less the clock margin of
    `digest.selection`); None (any time) when none has that stamp."""
    seen = [p.first_seen_at for p in digest.papers if p.first_seen_at is not None]
    return min(seen) - CLOCK_MARGIN if seen else None
