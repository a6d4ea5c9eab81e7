"""Editions (one per subscriber and period), each pointing at the shared
digest row of what it showed (`digest.store.digests`).

The claim is a single transaction: the digest rows and the edition rows are
written together, and the unique (subscriber, period) key decides who wins when
two runs race. Delivery states: pending (claimed, not yet handed to a mailer)
-> sending -> sent | failed | unknown; "empty" marks a period with nothing to
send. Released editions are deleted. The papers of an edition in a counted
state (`COUNTED_STATES`) are the papers its subscriber has received. A queued
send parks its claims as "queued" between the claim and a worker's take-over
(digest.store.queued).

Every claim carries the id of the run that made it. The statements that move a
claim on (`hand_over`, and the outcomes passed `run_id`) check that the claim
is still that run's, so a run whose claims were recovered by another changes
and sends nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime

from sqlalchemy import (
    Connection,
    Integer,
    bindparam,
    case,
    delete,
    func,
    literal_column,
    select,
    update,
)

from digest.db.schema import (
    HAS_ERROR,
    OPEN_CLAIM,
    digests,
    editions,
    runs,
    subscribers,
    suppressions,
)
from digest.store.digests import paper_keys, sections_of
from digest.store.prepared import Prepared
from digest.store.subscribers import email_hash

# Editions whose papers count as received (their claim moves the cutoff).
# "queued": claimed and waiting in the send queue (digest.store.queued).
# Planning reads a status only as in or out of this list, and on SQLite the
# triggers of revision 0010 count a status change only when it crosses it: a
# change here comes with a revision that changes them.
COUNTED_STATES = ("pending", "queued", "sending", "sent", "unknown", "empty")

# A failed edition keeps this much of its error.
FAILED_ERROR_CHARS = 2000


def claimed_periods(conn: Connection, subscriber_id: int) -> list[str]:
    """Every period claimed for the subscriber, in any state."""
    query = select(editions.c.period).where(editions.c.subscriber_id == subscriber_id)
    return list(conn.execute(query).scalars())


def get_edition(conn: Connection, subscriber_id: int, period: str) -> dict | None:
    query = select(editions).where(
        editions.c.subscriber_id == subscriber_id, editions.c.period == period
    )
    found = _with_sections(conn, conn.execute(query))
    return found[0] if found else None


def sent_keys(conn: Connection, subscriber_id: int) -> set[str]:
    """Every paper the subscriber has received (their counted editions' digests)."""
    query = select(digests.c.sections).join(editions, editions.c.digest_id == digests.c.id)
    query = query.where(
        editions.c.subscriber_id == subscriber_id, editions.c.status.in_(COUNTED_STATES)
    )
    return {key for (sections,) in conn.execute(query) for key in paper_keys(sections)}


def set_status(
    conn: Connection,
    edition_ids: Iterable[int],
    status: str,
    *,
    run_id: int | None = None,
    **values,
) -> int:
    """Set the status of editions; with `run_id`, only of those that run still
    holds in "sending" (an outcome recorded by a run that lost them changes
    nothing). Returns the number of rows changed."""
    ids = list(edition_ids)
    if not ids:
        return 0
    where = [editions.c.id.in_(ids), *_held(run_id)]
    return conn.execute(update(editions).where(*where).values(status=status, **values)).rowcount


def _held(run_id: int | None) -> list:
    if run_id is None:
        return []
    return [run_among_ids(run_id), editions.c.status == "sending"]


def settle_in_flight(
    conn: Connection, edition_id: int, verdict: str, *, now: datetime, error: str
) -> None:
    """Settle a dead run's `sending` edition (only while it still is): "sent",
    "released", or anything else -> "unknown" with `error`."""
    still = [editions.c.id == edition_id, editions.c.status == "sending"]
    if verdict == "released":
        if conn.execute(select(editions.c.id).where(*still)).first():
            _delete_editions(conn, [edition_id])
        return
    values = (
        {"status": "sent", "sent_at": now}
        if verdict == "sent"
        else {"status": "unknown", "error": error}
    )
    conn.execute(update(editions).where(*still).values(**values))


def mark_failed(
    conn: Connection, edition_id: int, error: str, *, run_id: int | None = None
) -> None:
    """Rejected on its merits: keep the edition (not retried); a failed edition's
    papers do not count as received."""
    set_status(conn, [edition_id], "failed", run_id=run_id, error=error[:FAILED_ERROR_CHARS])


def set_each(
    conn: Connection,
    status: str,
    own: Mapping[int, str | None],
    column: str,
    *,
    run_id: int | None = None,
    **values,
) -> list[int]:
    """`set_status` for the editions keyed in `own`, each one's `column` set to
    its own value, in one statement (a CASE when the values differ). With
    `run_id`, only editions that run still holds in "sending". Returns the ids
    changed."""
    if not own:
        return []
    distinct = set(own.values())
    if len(distinct) > 1:  # each its own value: a CASE over the ids
        statement = (
            update(editions)
            .where(editions.c.id.in_(list(own)), *_held(run_id))
            .values(status=status, **{column: case(dict(own), value=editions.c.id)}, **values)
            .returning(editions.c.id)
        )
        return list(conn.execute(statement).scalars())
    ids = list(own)
    size = _list_size(len(ids))
    statement = _set_one_value(status, column, run_id is not None, tuple(sorted(values)), size)
    bound = {f"new_{name}": value for name, value in values.items()}
    params = {**_list_params("ids", ids, size), "run": run_id, "new_value": distinct.pop(), **bound}
    return [row[0] for row in statement.rows(conn, params)]


@functools.lru_cache(maxsize=64)
def _set_one_value(status: str, column: str, held: bool, names: tuple[str, ...], size: int | None):
    """`set_each`'s statement when every edition gets the same value, built
    once per shape (once per provider call it is most of the cost) and
    `Prepared` to run on the driver's cursor: binds the list "ids"
    (`_in_list`, `size`), "run" (when `held`), "new_value" and "new_<name>"
    for `names`."""
    where = [_in_list(editions.c.id, "ids", size)]
    if held:
        where += [run_among_ids(bindparam("run")), editions.c.status == "sending"]
    values = {
        column: bindparam("new_value", type_=editions.c[column].type),
        **{name: bindparam(f"new_{name}", type_=editions.c[name].type) for name in names},
    }
    statement = update(editions).where(*where).values(status=status, **values)
    return Prepared(statement.returning(editions.c.id))


def mark_failed_each(
    conn: Connection, errors: Mapping[int, str], *, run_id: int | None = None
) -> list[int]:
    """`mark_failed` for many editions in one statement: each keeps its own
    error (a failed edition's papers do not count as received). Returns the ids
    changed."""
    own = {edition_id: error[:FAILED_ERROR_CHARS] for edition_id, error in errors.items()}
    return set_each(conn, "failed", own, "error", run_id=run_id)


def release(conn: Connection, edition_ids: Iterable[int], *, run_id: int | None = None) -> int:
    """Certainly not delivered: remove the claim so the next run sends it (its
    papers become candidates again, see `digest.editions.history`). With
    `run_id`, only claims that run still holds in "sending". Returns how many
    were released."""
    ids = list(edition_ids)
    if not ids:
        return 0
    if run_id is not None:
        query = select(editions.c.id).where(editions.c.id.in_(ids), *_held(run_id))
        ids = list(conn.execute(query).scalars())
    return _delete_editions(conn, ids)


def _delete_editions(conn: Connection, ids: list[int]) -> int:
    if not ids:
        return 0
    return conn.execute(delete(editions).where(editions.c.id.in_(ids))).rowcount


def release_pending_ids(conn: Connection, edition_ids: Iterable[int], *, run_id: int) -> int:
    """Release those of `edition_ids` the run still holds as `pending`."""
    query = select(editions.c.id).where(
        editions.c.id.in_(list(edition_ids)),
        editions.c.status == "pending",
        run_among_ids(run_id),
    )
    return _delete_editions(conn, list(conn.execute(query).scalars()))


def release_pending(conn: Connection, run_id: int | None) -> int:
    """Release every `pending` claim of a run (None: claims from before runs
    existed). Pending claims never reached a mailer."""
    query = select(editions.c.id).where(editions.c.status == "pending", *_claims_of(run_id))
    return _delete_editions(conn, list(conn.execute(query).scalars()))


# The mailer an edition went through: its run's (`runs.mailer`), or for an
# edition claimed before revision 0012 its own, over `EDITIONS_AND_RUNS`.
EDITIONS_AND_RUNS = editions.outerjoin(runs, runs.c.id == editions.c.run_id)
EDITION_MAILER = func.coalesce(editions.c.mailer, runs.c.mailer).label("mailer")


def in_flight(conn: Connection, run_id: int | None) -> list[dict]:
    """A run's `sending` editions: (id, subscriber_id, period, mailer)."""
    columns = (editions.c.id, editions.c.subscriber_id, editions.c.period, EDITION_MAILER)
    query = select(*columns).select_from(EDITIONS_AND_RUNS)
    query = query.where(editions.c.status == "sending", *_claims_of(run_id))
    return [dict(row._mapping) for row in conn.execute(query.order_by(editions.c.id))]


def run_among_ids(run):
    """`run_id = run` (a value or a bound parameter) for a statement that also
    names its editions by id, written (`run_id + 0`) so that the database
    checks it on the rows the ids find. While a send runs, the table's
    statistics (taken before it) know nothing of its claims, and a plain
    comparison may send the planner down the run index, to read every claim
    of the run (hundreds of thousands) at each provider call; an expression
    over the column is no use to that index, so the primary key is the only
    way in."""
    return (editions.c.run_id + literal_column("0", Integer)) == run


def _claims_of(run_id: int | None) -> list:
    """A run's unsettled claims, as the run index finds them (`OPEN_CLAIM`)."""
    run = editions.c.run_id.is_(None) if run_id is None else editions.c.run_id == run_id
    return [run, OPEN_CLAIM]


# Short lists bound one parameter per value, the list padded to the next
# power of two by repeating its last value (IN is a set test), so that a
# handful of statements serve every list of up to `_FIXED_LIST_MAX` values. An
# expanding parameter costs more per execution than the whole statement does
# to the database: SQLAlchemy renders the list into the statement's text at
# every call. Longer lists stay expanding (few, and SQLite caps a statement's
# parameters).
_FIXED_LIST_MAX = 64


def _list_size(count: int) -> int | None:
    """How many parameters a list of `count` values binds as (None: one
    expanding parameter)."""
    if not 0 < count <= _FIXED_LIST_MAX:
        return None
    return 1 << (count - 1).bit_length()


def _in_list(column, name: str, size: int | None):
    """`column IN` the list bound as `name` (see `_list_params`)."""
    if size is None:
        return column.in_(bindparam(name, expanding=True))
    return column.in_([bindparam(f"{name}_{i}", type_=column.type) for i in range(size)])


def _list_params(name: str, values: list, size: int | None) -> dict:
    """The parameters binding `values` as `_in_list(..., name, size)` does."""
    if size is None:
        return {name: values}
    padded = values + values[-1:] * (size - len(values))
    return {f"{name}_{i}": value for i, value in enumerate(padded)}


# Correlated: one key lookup per edition of the call. (An IN over every active
# subscriber is a scan of the list per provider call.)
_ADDRESS = (
    select(subscribers.c.email)
    .where(subscribers.c.id == editions.c.subscriber_id, subscribers.c.status == "active")
    .scalar_subquery()
)


@functools.lru_cache(maxsize=16)
def _hand_over_statements(size: int | None):
    """`hand_over`'s statements for a call of `size` (`_list_size`) editions,
    built once (constructing them per provider call costs more than
    SQLAlchemy's compiled-statement cache saves), `Prepared` to run on the
    driver's cursor: the move, the release of what was left behind, and the
    suppression lookup."""
    mine_pending = (
        _in_list(editions.c.id, "ids", size),
        editions.c.status == "pending",
        run_among_ids(bindparam("run")),
    )
    move = (
        update(editions)
        .where(*mine_pending, _ADDRESS.isnot(None))
        .values(status="sending")
        .returning(editions.c.id, _ADDRESS)
    )
    left = delete(editions).where(*mine_pending).returning(editions.c.id)
    suppressed = select(suppressions.c.email_hash).where(
        _in_list(suppressions.c.email_hash, "hashes", size)
    )
    return Prepared(move), Prepared(left), Prepared(suppressed)


def hand_over(
    conn: Connection, edition_ids: Iterable[int], *, run_id: int
) -> tuple[list[int], list[int]]:
    """Fence before a provider call: move `pending` -> `sending` exactly those
    editions this run still holds and whose subscriber may still be mailed
    (active, address not suppressed). Claims of this run whose subscriber left
    meanwhile are released. Returns (moved, released); the caller sends exactly
    `moved`. Two statements when nobody left: the move, which returns each
    moved edition's address, and the suppression lookup of those addresses;
    the editions of suppressed addresses are then released again (in the
    caller's transaction: nobody else ever sees them `sending`)."""
    ids = list(edition_ids)
    if not ids:
        return [], []
    size = _list_size(len(ids))
    move, left, _ = _hand_over_statements(size)
    mine = {**_list_params("ids", ids, size), "run": run_id}
    rows = move.rows(conn, mine)
    gone = []
    if len(rows) < len(ids):  # lost to another run, or the subscriber is not active
        gone = [row[0] for row in left.rows(conn, mine)]
    hashes = {row[0]: email_hash(row[1]) for row in rows}
    distinct = list(set(hashes.values()))
    size = _list_size(len(distinct))
    lookup = _hand_over_statements(size)[2]
    suppressed = {row[0] for row in lookup.rows(conn, _list_params("hashes", distinct, size))}
    if suppressed:
        refused = [i for i, digest in hashes.items() if digest in suppressed]
        _delete_editions(conn, refused)
        gone += refused
    moved = [i for i, digest in hashes.items() if digest not in suppressed]
    return sorted(moved), sorted(gone)


def take_unknown(
    conn: Connection, *, run_id: int, subscriber_ids: Collection[int] | None = None
) -> list[dict]:
    """Claim the `unknown` editions of active subscribers (of `subscriber_ids`
    when given) for this run to resend on purpose: back to `pending` under
    `run_id` (their papers still count as received). Returns the claimed rows,
    each with its `sections`."""
    active = select(subscribers.c.id).where(subscribers.c.status == "active")
    where = [editions.c.status == "unknown", HAS_ERROR, editions.c.subscriber_id.in_(active)]
    if subscriber_ids is not None:
        where.append(editions.c.subscriber_id.in_(list(subscriber_ids)))
    return take(conn, where, {"status": "pending", "run_id": run_id, "error": None})


def take(conn: Connection, where: list, values: dict) -> list[dict]:
    """Set `values` on the editions `where` selects and return their rows, in
    id order, each with its `sections` (from its shared digest): how a run
    takes editions back to send them (`take_unknown`, a queued job's
    `take_queued`)."""
    ids = list(
        conn.execute(
            update(editions).where(*where).values(**values).returning(editions.c.id)
        ).scalars()
    )
    if not ids:
        return []
    query = select(editions).where(editions.c.id.in_(ids)).order_by(editions.c.id)
    return _with_sections(conn, conn.execute(query))


def status_counts(conn: Connection) -> dict[str, int]:
    query = select(editions.c.status, func.count()).group_by(editions.c.status)
    return dict(conn.execute(query).all())


def recent_editions(conn: Connection, limit: int = 10) -> list[dict]:
    query = (
        select(editions).order_by(editions.c.claimed_at.desc(), editions.c.id.desc()).limit(limit)
    )
    return _with_sections(conn, conn.execute(query))


def editions_of(conn: Connection, subscriber_id: int) -> list[dict]:
    """Every edition of one subscriber, oldest claim first (`digest sent`)."""
    query = (
        select(editions)
        .where(editions.c.subscriber_id == subscriber_id)
        .order_by(editions.c.claimed_at, editions.c.id)
    )
    return _with_sections(conn, conn.execute(query))


def _with_sections(conn: Connection, rows) -> list[dict]:
    """Edition rows as dicts, each with its digest's `sections` (None: empty)."""
    found = [dict(row._mapping) for row in rows]
    records = sections_of(conn, [row["digest_id"] for row in found])
    for row in found:
        row["sections"] = records.get(row["digest_id"])
        if row["paper_count"] is None:  # claimed since revision 0012: the digest's
            row["paper_count"] = len(paper_keys(row["sections"] or []))
    return found
