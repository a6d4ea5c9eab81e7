"""Queued sends: the scheduler's side (claim and enqueue) and the worker's side
(take over and deliver) of the send queue (digest/send_queue.py).

Enqueue (`enqueue_due`, the send tick with `send_queue = "procrastinate"`): a
run like `digest send`'s (start, recover dead runs, finish) walks the active
subscribers with `claim_next`; each batch's due editions are claimed, moved to
`queued` and their job deferred, all in one transaction. The run's own claims
never outlive it as `pending`, so `finish_run` has nothing of them to release.

Deliver (`deliver_queued`, one job): a run of its own, recovering dead runs
first (a worker that died is settled before its editions could be looked at);
it takes over the job's editions still `queued`, rebuilds them from their
stored record, and delivers them with `deliver_batch` — the same function
`digest send` uses in-process, with the same rate ceiling in the database
shared by every sender. Whatever the job took and could not send is released
by `finish_run` (for the next tick), never left to a second sender.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine

from digest.claims import ClaimedBatch, ClaimOptions, claim_next
from digest.delivery import Deliveries
from digest.editions import Planner
from digest.mail.base import Mailer
from digest.render import CompileCache, SiteInfo
from digest.resend import planned_from_rows
from digest.runs import finish_run, recover_dead_runs, start_run
from digest.send import BATCH_SIZE, SendOptions, SendReport, claim_options_for
from digest.send_rate import SendCeiling
from digest.store.queue_jobs import live_job_editions
from digest.store.queued import ENQUEUE, mark_queued, queued_ids, take_queued

log = logging.getLogger(__name__)


def enqueue_due(
    engine: Engine, mailer: Mailer, app, options: SendOptions, *, site: SiteInfo
) -> SendReport:
    """Claim every due edition and enqueue one job per claimed batch of
    `options.claim_size` subscribers. Counts: "queued" (editions), "jobs",
    "empty", "requeued" (editions of jobs that ended without them)."""
    report = SendReport()
    run = start_run(engine, now=options.clock(), kind=ENQUEUE)
    try:
        report.recovered = recover_dead_runs(engine, mailer, now=options.clock(), me=run.id)
        report.counts["requeued"] += requeue_orphans(engine, app, size=options.claim_size)
        cache = CompileCache(site)
        with engine.begin() as conn:
            planner = Planner.load(conn, now=options.now, retention_days=options.retention_days)
        claim_options = claim_options_for(options, run.id)
        after = 0
        while True:
            with engine.begin() as conn:
                claimed, ids = enqueue_batch(conn, app, planner, cache, claim_options, after=after)
            report.counts += claimed.counts
            if ids:
                report.counts.update(queued=len(ids), jobs=1)
            if claimed.last_id is not None:
                after = claimed.last_id
            if claimed.stopped or claimed.seen == 0:
                break
    finally:
        finish_run(engine, run, mailer, now=options.clock())
    return report


def enqueue_batch(
    conn: Connection,
    app,
    planner: Planner,
    cache: CompileCache,
    options: ClaimOptions,
    *,
    after: int,
) -> tuple[ClaimedBatch, list[int]]:
    """In the caller's transaction: claim the next batch (`claim_next`), move
    its claims to `queued` and defer the job naming them. Returns the batch
    and the queued ids. Rolled back, it leaves neither claims nor job."""
    from digest.send_queue import defer

    claimed = claim_next(conn, planner, cache, options, after=after)
    ids = mark_queued(conn, [p.edition_id for p in claimed.claimed], run_id=options.run_id)
    if ids:
        defer(app, conn, ids)
    return claimed, ids


def requeue_orphans(engine: Engine, app, *, size: int) -> int:
    """Queue again the `queued` editions no waiting or running job names (their
    job failed for good, or was deleted), `size` to a job. Read in that order,
    a job that finished between the two reads may have its editions queued
    again: harmless, the new job finds them taken."""
    from digest.send_queue import ARG, TASK, defer

    with engine.begin() as conn:
        waiting = queued_ids(conn)
        if not waiting:
            return 0
        held = live_job_editions(conn, TASK, ARG)
        orphans = [eid for eid in waiting if eid not in held]
        for start in range(0, len(orphans), size):
            defer(app, conn, orphans[start : start + size])
    if orphans:
        log.warning("queued %d editions again: the job that held them ended", len(orphans))
    return len(orphans)


def deliver_queued(
    engine: Engine,
    mailer: Mailer,
    edition_ids: list[int],
    *,
    site: SiteInfo,
    secret: str,
    send_rate: float = 0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Counter:
    """Deliver the job's editions that are still `queued` (see the module doc).
    Returns the outcome counts of `deliver_batch`, plus "taken" (how many this
    job took over) and "recovered" (claims of dead runs settled first)."""
    run = start_run(engine, now=clock(), kind="worker", mailer=mailer.name)
    counts: Counter = Counter()
    try:
        recovered = recover_dead_runs(engine, mailer, now=clock(), me=run.id)
        counts["recovered"] = sum(recovered.values())
        with engine.begin() as conn:
            planned = planned_from_rows(conn, take_queued(conn, edition_ids, run_id=run.id))
        counts["taken"] = len(planned)
        deliveries = Deliveries(
            engine,
            mailer,
            cache=CompileCache(site),
            secret=secret,
            now=clock,
            run_id=run.id,
            ceiling=SendCeiling(engine, send_rate),
            size=BATCH_SIZE,
        )
        for edition in planned:
            counts += deliveries.add(edition)
        counts += deliveries.finish()
    finally:
        counts["released"] += finish_run(engine, run, mailer, now=clock())["released"]
    return +counts
