"""Claiming due editions a batch of subscribers at a time.

`claim_next` takes the next batch of active subscribers (in id order, from a
cursor), plans each one's due edition and claims it, all in the caller's
transaction, so a batch is claimed entirely or not at all. On PostgreSQL the
batch's subscriber rows are locked with SKIP LOCKED: two runs walking the
list at once split it between them instead of queueing behind each other, and
a run that meets a subscriber another run holds skips it (that run is
claiming it). The unique (subscriber, period) key stays the final word: a
period already claimed is never claimed again.

`digest send` calls it in a loop and delivers what it claimed in-process; a
queued send (procrastinate, on PostgreSQL) calls it in the transaction that
enqueues the batch's job.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from digest.editions import Planned, Planner, claim, due_period, history
from digest.render import CompileCache
from digest.store.subscribers import Subscriber, lock_active_batch

log = logging.getLogger(__name__)

CLAIM_SIZE = 200  # subscribers per claim transaction


@dataclass
class ClaimOptions:
    """What the claim of a batch needs to know about the run."""

    now: datetime  # the moment candidates are taken at (may be replayed)
    leased_at: datetime  # wall clock of the claim
    run_id: int | None  # None: a dry run, nothing is written
    on_date: date | None = None
    force_hour: bool = False
    send_empty: bool = False
    only: str | None = None  # one address
    size: int = CLAIM_SIZE
    # Asked before each subscriber; True ends the batch there (what it claimed
    # so far is kept and delivered). `digest run` sets it on SIGTERM.
    stop: Callable[[], bool] | None = None


@dataclass
class ClaimedBatch:
    claimed: list[Planned] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # "empty", "would-send"
    planned: list[Planned] = field(default_factory=list)  # dry runs: every plan
    last_id: int | None = None  # the cursor for the next batch; None: list done
    seen: int = 0  # subscribers looked at
    stopped: bool = False  # `stop` said so before the batch was done


def claim_next(
    conn: Connection,
    planner: Planner,
    cache: CompileCache,
    options: ClaimOptions,
    *,
    after: int,
) -> ClaimedBatch:
    """Plan and claim the due editions of the next batch of active subscribers
    with an id above `after`, in the caller's transaction. Returns what was
    claimed (to deliver), the counts of empty editions (claimed as "empty") and,
    on a dry run (`run_id` None), the plans without claiming anything."""
    batch = ClaimedBatch()
    subscribers = lock_active_batch(conn, after=after, size=options.size, email=options.only)
    if not subscribers:
        return batch
    for subscriber in subscribers:
        if options.stop is not None and options.stop():
            batch.stopped = True
            break
        batch.last_id, batch.seen = subscriber.id, batch.seen + 1
        try:
            with conn.begin_nested():
                planned = _plan_and_claim(conn, planner, cache, subscriber, options, batch)
        except IntegrityError:
            # Only a stale plan can collide with the sent log; the next run replans.
            log.warning("subscriber %s: edition changed under us; skipped", subscriber.id)
            continue
        if planned is not None:
            batch.claimed.append(planned)
    return batch


def _plan_and_claim(
    conn: Connection,
    planner: Planner,
    cache: CompileCache,
    subscriber: Subscriber,
    options: ClaimOptions,
    batch: ClaimedBatch,
) -> Planned | None:
    """Plan the subscriber's due edition and claim it; None when nothing to
    deliver. The digest is compiled before the claim so that the sent log
    holds exactly the papers the email shows (past the size budget, the rest
    are only counted)."""
    period = due_period(
        conn, subscriber, options.now, on_date=options.on_date, force_hour=options.force_hour
    )
    if period is None:
        return None
    previous, sent = history(conn, subscriber.id, now=options.now)
    planned = planner.plan(subscriber, period, previous_claim=previous, sent=sent)
    empty = planned.empty and not options.send_empty
    if options.run_id is None:
        # Classified as the real run would: an empty edition sends nothing.
        batch.counts["empty" if empty else "would-send"] += 1
        batch.planned.append(planned)
        return None
    lease = {"now": options.now, "leased_at": options.leased_at, "run_id": options.run_id}
    if empty:
        if claim(conn, planned, status="empty", **lease):
            batch.counts["empty"] += 1
            log.info("edition %s for subscriber %s is empty: nothing sent", period, subscriber.id)
        return None
    shown = cache.get(planned.digest).paper_keys
    return planned if claim(conn, planned, keys=shown, **lease) else None
