"""Editions handed to the send queue: the `queued` state.

A queued send (digest/queued_send.py) claims editions as any run does
(`pending` under the claiming run), then, in the same transaction that defers
their job, moves them to `queued`. A queued edition belongs to no live run:
`finish_run` and the recovery of dead runs touch only `pending` and `sending`
claims, so the tick's run can end while its editions wait for a worker. They
still count as claimed (COUNTED_STATES): the period is taken and the next
edition counts from this claim.

The job that names them takes them over (`take_queued`: back to `pending`,
under the worker's own run, in one statement that only moves editions still
`queued`), and from there the normal path applies: hand-over fence, provider
call, outcomes; and if that worker dies, the recovery rules of DESIGN.md "Runs
and recovery" (its `pending` released for the next tick, its `sending`
reconciled or `unknown`). Two jobs naming the same editions (a job retried
while its first attempt still ran, an orphan queued again) cannot both take
one: the second finds it no longer `queued`.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select, update

from digest.db.schema import OPEN_CLAIM, editions, runs
from digest.store.editions import run_among_ids, take

QUEUED = "queued"
# The kind of run that queues editions (digest.queued_send).
ENQUEUE = "enqueue"


def mark_queued(conn: Connection, edition_ids: Iterable[int], *, run_id: int) -> list[int]:
    """Move the run's `pending` claims among `edition_ids` to `queued`; returns
    the ids moved (in the caller's transaction: the one that defers their job)."""
    ids = list(edition_ids)
    if not ids:
        return []
    moved = conn.execute(
        update(editions)
        .where(editions.c.id.in_(ids), editions.c.status == "pending", run_among_ids(run_id))
        .values(status=QUEUED)
        .returning(editions.c.id)
    )
    return sorted(moved.scalars())


def take_queued(conn: Connection, edition_ids: Iterable[int], *, run_id: int) -> list[dict]:
    """Take over the editions among `edition_ids` that are still `queued`: back
    to `pending` under `run_id`. Returns the rows taken, in id order (what
    `digest.resend.planned_from_rows` rebuilds)."""
    ids = list(edition_ids)
    if not ids:
        return []
    where = [editions.c.id.in_(ids), editions.c.status == QUEUED]
    return take(conn, where, {"status": "pending", "run_id": run_id})


def queued_ids(conn: Connection) -> list[int]:
    """Every edition waiting in the queue, in id order. A queued edition is
    still held by the run that queued it (a run of kind `ENQUEUE`), so the
    run index finds them: no index names the status (see the editions
    table)."""
    enqueuers = select(runs.c.id).where(runs.c.kind == ENQUEUE)
    query = select(editions.c.id).where(editions.c.run_id.in_(enqueuers), OPEN_CLAIM)
    query = query.where(editions.c.status == QUEUED).order_by(editions.c.id)
    return list(conn.execute(query).scalars())
