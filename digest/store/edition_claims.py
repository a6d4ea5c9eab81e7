"""Claiming editions in bulk, and reading what planning a batch needs.

`claim_editions` writes a batch's claims with a handful of statements: the
digests they show (shared, `digest.store.digests`), then the edition rows,
whose unique (subscriber, period) key decides who wins when two runs race.
`histories` reads what planning a batch needs of its subscribers' editions:
the small columns of the recent ones, a summary of the older ones.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import (
    Connection,
    Integer,
    and_,
    bindparam,
    case,
    func,
    select,
    text,
    type_coerce,
)
from sqlalchemy.types import NullType

from digest.db.schema import EDITION_VERSIONS, PERIOD_NUMBER, editions
from digest.store.digests import record_key, save_digests
from digest.store.editions import COUNTED_STATES
from digest.store.prepared import Prepared
from digest.store.upsert import insert_new


@dataclass
class Claim:
    """One edition to claim: `sections` is what it shows ([] for none)."""

    subscriber_id: int
    period: str
    status: str
    sections: list
    reached_after: datetime | None = None
    key: str | None = None  # `record_key(period, sections)` when the caller knows it


def claim_editions(
    conn: Connection,
    claims: Sequence[Claim],
    *,
    now: datetime,
    run_id: int | None = None,
) -> dict[int, int]:
    """Claim many editions in the caller's transaction with a handful of
    statements: their digests (shared, by `record_key`), then the edition rows.
    Returns subscriber id -> edition id for the claims that were made; one whose
    (subscriber, period) was already claimed is left out. At most one claim per
    subscriber. `now` is when the candidates were taken (the next edition counts
    from it); whose claim it is, and whether its run lives, is `run_id`'s
    business."""
    if not claims:
        return {}
    keys, known = {}, {}  # record keys, computed once per shared sections list
    for c in claims:
        if c.sections:
            memo = (c.period, id(c.sections))
            if memo not in known:
                known[memo] = c.key or record_key(c.period, c.sections)
            keys[c.subscriber_id] = known[memo]
    records = {keys[c.subscriber_id]: (c.period, c.sections) for c in claims if c.sections}
    digest_ids = save_digests(conn, records, now=now)
    rows = [
        {
            "subscriber_id": c.subscriber_id,
            "period": c.period,
            "status": c.status,
            "claimed_at": now,
            "digest_id": digest_ids.get(keys.get(c.subscriber_id)),
            "run_id": run_id,
            "reached_after": c.reached_after,
        }
        for c in claims
    ]
    key, returning = ("subscriber_id", PERIOD_NUMBER), ("subscriber_id", "id")
    return dict(insert_new(conn, editions, rows, key=key, returning=returning))


class HistoryRow(NamedTuple):
    period: str
    status: str
    claimed_at: datetime
    reached_after: datetime | None
    digest_id: int | None


@dataclass
class History:
    """A subscriber's editions as planning reads them. `rows` are those claimed
    at or after `since` (all of them when `since` is None); of the older ones
    only what planning asks of them: `older_periods`, the chronologically
    latest daily and weekly periods claimed (so that `latest_period` over
    these and `rows`' periods is the latest of all), and `older_claim`, the
    latest claim of a counted edition (`COUNTED_STATES`)."""

    rows: list[HistoryRow] = field(default_factory=list)
    since: datetime | None = None
    older_periods: list[str] = field(default_factory=list)
    older_claim: datetime | None = None

    @property
    def complete(self) -> bool:
        """Whether `rows` are every edition."""
        return self.since is None

    def periods(self) -> list[str]:
        """Claimed periods, enough for `latest_period` (all of them if complete)."""
        return [r.period for r in self.rows] + self.older_periods


# The moments as the driver returns them (no type processing: NullType):
# `_Aware` turns each distinct one into the aware UTC moment `UTCDateTime`
# would read, once (a run's editions share their claim moment, and a batch
# reads some thirty rows per subscriber, so the per-row work is what counts).
_COLUMNS = (
    editions.c.subscriber_id,
    editions.c.period,
    editions.c.status,
    type_coerce(editions.c.claimed_at, NullType()),
    type_coerce(editions.c.reached_after, NullType()),
    editions.c.digest_id,
)


class _Aware(dict):
    """A moment as stored -> the same moment, aware UTC (what `UTCDateTime`
    reads); None -> None. SQLite hands back the stored text, PostgreSQL a naive
    datetime (both UTC)."""

    def __init__(self) -> None:
        super().__init__({None: None})

    def __missing__(self, stored: str | datetime) -> datetime:
        # fromisoformat: what SQLAlchemy's SQLite DATETIME parses the text with.
        naive = datetime.fromisoformat(stored) if isinstance(stored, str) else stored
        aware = self[stored] = naive.replace(tzinfo=UTC)
        return aware


# Builds a `HistoryRow` from a tuple without the Python-level `__new__` call
# NamedTuple makes per row.
_new_tuple = tuple.__new__


def histories(
    conn: Connection, subscriber_ids: Collection[int], *, since: datetime | None = None
) -> dict[int, History]:
    """Each subscriber's `History`, in two queries whatever their number: the
    small columns of their editions claimed at or after `since` (every edition
    when None), and a summary of the older ones. Subscribers without editions
    are left out.

    A daily subscriber keeps a year of editions: planning reads a few weeks of
    rows and one summary row instead of hundreds of rows each."""
    ids = list(subscriber_ids)
    in_ids = editions.c.subscriber_id.in_(ids)
    query = select(*_COLUMNS).where(in_ids).order_by(*_KEY_ORDER)
    if since is not None:
        query = query.where(editions.c.claimed_at >= since)
    older = conn.execute(_older(in_ids, since)).all() if since is not None else []
    return _histories(conn.execute(query), older, since, set(ids))


@dataclass
class HistoriesRead:
    """The histories of a batch of subscribers (`read_histories`), with, on
    SQLite, the count of changes to each one's editions as read with them: a
    later read of the counts tells exactly whose editions changed in between
    (`changed_histories`)."""

    histories: dict[int, History]
    ids: frozenset[int]
    span: tuple[int, int]  # the subscriber ids read: (after, upto]
    since: datetime | None
    versions: list[tuple] | None = None  # (subscriber id, count) in the span


def read_histories(
    conn: Connection,
    subscriber_ids: Sequence[int],
    *,
    since: datetime | None,
    versions: bool = False,
) -> HistoriesRead:
    """`histories` of a batch of subscribers given in ascending id order (a
    claim batch: `lock_active_batch`), read by their span of ids, one key
    range of the editions' (subscriber, period) index, on the driver's cursor
    (`Prepared`): some thirty rows per subscriber, where SQLAlchemy's result
    rows and an IN list of every id cost more than the database's own work.
    Rows of subscribers in the span that are not in the batch are read and
    left out. With `versions` (SQLite only) also the span's change counts, in
    the same transaction, for `changed_histories`."""
    if versions and conn.dialect.name != "sqlite":
        raise ValueError("change counts are kept on SQLite only (revision 0009)")
    ids = frozenset(subscriber_ids)
    span = (subscriber_ids[0] - 1, subscriber_ids[-1]) if subscriber_ids else (0, 0)
    rows, older = _read_span(conn, span, since)
    read = HistoriesRead(_histories(rows, older, since, ids), ids, span, since)
    if versions:
        read.versions = _span_versions(conn, span)
    return read


def changed_histories(conn: Connection, read: HistoriesRead) -> dict[int, History]:
    """The histories of those of `read`'s subscribers whose editions changed
    since it was read (claimed, released, failed: any change planning could
    see in what `histories` reads), as they are now; empty when nobody's did.
    Exact, and cheap when nothing changed: the triggers of revisions 0009
    and 0010 count those changes (whoever writes them), so the span's
    counts are read again and compared with those read before, in one
    comparison, instead of the editions themselves. `read` must come from
    `read_histories(..., versions=True)`."""
    if read.versions is None:
        raise ValueError("read_histories(versions=True) reads what this compares")
    now = _span_versions(conn, read.span)
    if now == read.versions:
        return {}
    was, counts = dict(read.versions), dict(now)
    changed = [sid for sid in sorted(read.ids) if counts.get(sid) != was.get(sid)]
    fresh = histories(conn, changed, since=read.since) if changed else {}
    return {sid: fresh.get(sid, History()) for sid in changed}


def _span_versions(conn: Connection, span: tuple[int, int]) -> list[tuple]:
    """(subscriber id, change count) of the subscribers in `span` whose
    editions ever changed, in id order."""
    return _SPAN_VERSIONS.rows(conn, {"after": span[0], "upto": span[1]})


def _read_span(
    conn: Connection, span: tuple[int, int], since: datetime | None
) -> tuple[list[tuple], list[tuple]]:
    """(the rows of the editions of subscribers in `span` claimed at or after
    `since`, every one when None; the summary of their older ones)."""
    after, upto = span
    if since is None:
        return _SPAN_ALL.rows(conn, {"after": after, "upto": upto}), []
    bound = {"after": after, "upto": upto, "since": since}
    return _SPAN_RECENT.rows(conn, bound), _SPAN_OLDER.rows(conn, bound)


def _histories(rows, older, since: datetime | None, wanted: Collection[int]) -> dict[int, History]:
    """Histories from the rows of `_COLUMNS` and of the older summary, for
    the subscribers in `wanted`."""
    found: dict[int, History] = {}
    aware = _Aware()
    for sid, period, status, claimed_at, reached_after, digest_id in rows:
        history = found.get(sid)
        if history is None:
            if sid not in wanted:
                continue
            history = found[sid] = History(since=since)
        row = (period, status, aware[claimed_at], aware[reached_after], digest_id)
        history.rows.append(_new_tuple(HistoryRow, row))
    for sid, daily, weekly, claim in older:
        if sid in wanted:
            history = found.setdefault(sid, History(since=since))
            history.older_periods = [p for p in (daily, weekly) if p is not None]
            history.older_claim = aware[claim]
    return found


def _older(which, before):
    """Per subscriber (of those `which` selects) with editions claimed before
    `before`: the latest daily period, the latest weekly period (zero-padded,
    so the greatest string is the latest within each kind) and the latest
    counted claim (as stored)."""
    weekly = editions.c.period.like("%-W%")
    counted = editions.c.status.in_(COUNTED_STATES)
    return (
        select(
            editions.c.subscriber_id,
            func.max(case((~weekly, editions.c.period))),
            func.max(case((weekly, editions.c.period))),
            func.max(type_coerce(case((counted, editions.c.claimed_at)), NullType())),
        )
        .where(which, editions.c.claimed_at < before)
        .group_by(editions.c.subscriber_id)
    )


# Rows in the order of the unique (subscriber, period number) key, which the
# database reads them in: the same rows read twice come back in the same order.
_KEY_ORDER = (editions.c.subscriber_id, PERIOD_NUMBER)


def _span_statements():
    """`_read_span`'s statements: a span's recent rows, every row, and the
    older summary."""
    in_span = (
        editions.c.subscriber_id > bindparam("after", type_=Integer),
        editions.c.subscriber_id <= bindparam("upto", type_=Integer),
    )
    since = bindparam("since", type_=editions.c.claimed_at.type)
    every = select(*_COLUMNS).where(*in_span).order_by(*_KEY_ORDER)
    recent = every.where(editions.c.claimed_at >= since)
    older = _older(and_(*in_span), since).order_by(editions.c.subscriber_id)
    return Prepared(recent), Prepared(every), Prepared(older)


_SPAN_RECENT, _SPAN_ALL, _SPAN_OLDER = _span_statements()
_SPAN_VERSIONS = Prepared(
    text(
        f"SELECT subscriber_id, version FROM {EDITION_VERSIONS}"
        " WHERE subscriber_id > :after AND subscriber_id <= :upto ORDER BY subscriber_id"
    )
)
