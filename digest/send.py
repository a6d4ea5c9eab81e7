"""`digest send`: claim and deliver every edition that is due.

A send is a run (`digest.runs`): it registers itself and holds its liveness
lock, then, before planning anything, recovers every run that died (their
pending claims released, their in-flight editions reconciled or `unknown`), so
a dead run's papers are candidates for this run's editions. With
`resend_unknown`, editions left `unknown` are taken back on purpose and sent
again through the normal path. Then the active subscribers are walked in id
order a batch at a time: each batch's due editions are planned and claimed in
one transaction (`digest.claims`; the unique (subscriber, period) key makes a
concurrent or repeated run claim nothing twice), and claimed editions are
delivered in batches through `deliver_batch`. At the end the run releases
anything it still holds and frees its lock. With `processes` above one the
walk is shared by forked processes (`digest.send_processes`), each a run of
its own.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import NoReturn

from sqlalchemy import Engine

from digest.claims import (
    CLAIM_SIZE,
    ClaimOptions,
    claim_next,
    claim_planned,
    plan_next,
    record_ahead,
)
from digest.db.engine import reading
from digest.delivery import Deliveries
from digest.editions import Planned, Planner
from digest.mail.base import AuthError, Mailer
from digest.mail.retry import Backoff
from digest.render import CompileCache, SiteInfo
from digest.resend import unknown_editions
from digest.runs import Run, finish_run, recover_dead_runs, start_run
from digest.send_rate import SendCeiling
from digest.shutdown import interruptible
from digest.store.subscribers import count_active

log = logging.getLogger(__name__)

BATCH_SIZE = 100
# Compiled digests a send keeps (each some 100 KB: HTML, text, MJML).
COMPILED_KEPT = 2000
GROUPED_COMPILED = 256


@dataclass
class SendOptions:
    now: datetime
    on_date: date | None = None
    force_hour: bool = False
    only: str | None = None
    dry_run: bool = False
    send_empty: bool = False
    retention_days: int = 365
    batch_size: int = BATCH_SIZE  # editions per delivery batch (SMTP, outbox)
    claim_size: int = CLAIM_SIZE  # subscribers per claim transaction
    resend_unknown: bool = False
    # Processes sharing the send (digest.send_processes); dry runs and `only` use one.
    processes: int = 1
    send_rate: float = 0  # recipients per second, all senders together; 0 = none
    # Wall clock for run records; `now` may be a replayed time (demo, tests).
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Epoch clock and sleep of the rate ceiling (injected by tests).
    rate_clock: Callable[[], float] = field(default=time.time)
    sleep: Callable[[float], None] = field(default=time.sleep)
    # Asked before each claim batch; True stops claiming (what is claimed is still
    # delivered and recorded). `digest run` sets it on SIGTERM.
    stop: Callable[[], bool] | None = None


@dataclass
class SendReport:
    counts: Counter = field(default_factory=Counter)
    planned: list[Planned] = field(default_factory=list)  # dry runs only
    recovered: Counter = field(default_factory=Counter)

    def line(self) -> str:
        order = (
            "sent",
            "resent",
            "empty",
            "failed",
            "unknown",
            "released",
            "skipped",
            "lost",
            "would-send",
        )
        parts = [f"{self.counts[k]} {k}" for k in order if self.counts[k]]
        return ", ".join(parts) or "nothing due"


def run_send(
    engine: Engine,
    mailer: Mailer,
    options: SendOptions,
    *,
    site: SiteInfo,
    secret: str,
    progress: Callable[[int, int], None] | None = None,
) -> SendReport:
    report = SendReport()
    if options.dry_run:
        _plan_all(engine, None, mailer, options, report, site, secret, progress)
        return report
    run = start_run(engine, now=options.clock(), mailer=mailer.name)
    refused: AuthError | None = None
    try:
        report.recovered = recover_dead_runs(engine, mailer, now=options.clock(), me=run.id)
        if options.processes > 1 and options.only is None:
            from digest.send_processes import send_in_processes

            send_in_processes(engine, run, mailer, options, report, site, secret, progress)
        else:
            _plan_all(engine, run, mailer, options, report, site, secret, progress)
    except AuthError as exc:
        refused = exc
    finally:
        tidied = finish_run(engine, run, mailer, now=options.clock())
    if refused is not None:
        _stop(refused, refused.released + tidied["released"])
    return report


def _stop(exc: AuthError, released: int) -> NoReturn:
    """The provider refused our credentials. Nothing of this run's unsent
    claims reached it: the call in hand was released by `deliver_batch`, the
    claims still waiting by `finish_run`. Stop with a line that says so."""
    raise AuthError(
        f"{exc}; sending stopped, {released} claimed editions released for the next run"
    ) from exc


def claim_options_for(options: SendOptions, run_id: int | None) -> ClaimOptions:
    """What `claim_next` needs of a send's options (run_id None: a dry run)."""
    return ClaimOptions(
        now=options.now,
        run_id=run_id,
        on_date=options.on_date,
        force_hour=options.force_hour,
        send_empty=options.send_empty,
        only=options.only,
        size=options.claim_size,
        stop=options.stop,
    )


def _plan_all(engine, run: Run | None, mailer, options, report, site, secret, progress) -> None:
    deliveries = deliveries_for(engine, run, mailer, options, site, secret)
    with engine.begin() as conn:
        total = 1 if options.only else count_active(conn)
        planner = Planner.load(conn, now=options.now, retention_days=options.retention_days)
    resend_unknown(deliveries, run, options, report)
    done = 0

    def advanced(seen: int) -> None:
        nonlocal done
        done += seen
        if progress:
            progress(min(done, total), total)

    claim_options = claim_options_for(options, run.id if run is not None else None)
    try:
        claim_and_deliver(engine, planner, deliveries, claim_options, [(0, None)], report, advanced)
    finally:
        gc.unfreeze()


def deliveries_for(engine, run: Run | None, mailer, options, site, secret) -> Deliveries:
    """The run's `Deliveries`, with its compile cache. A grouping mailer
    (SendGrid) delivers a digest's editions together, so a digest is compiled
    when its group goes out and seldom needed again (its HTML also comes
    JSON-escaped, for the request); others deliver in claim order, where the
    same digests recur all along.

    The run's stop (`options.stop`) ends the mailer's retries of a call that
    failed (it is released), and with a grouping mailer, which then makes no
    further call, it also cuts short the rate ceiling's wait before one."""
    grouped = getattr(mailer, "group_size", 0)
    backoff = getattr(mailer, "backoff", None)
    if isinstance(backoff, Backoff):
        backoff.stop = options.stop
    wait = interruptible(options.sleep, options.stop if grouped else None)
    return Deliveries(
        engine,
        mailer,
        cache=CompileCache(
            site, maxsize=GROUPED_COMPILED if grouped else COMPILED_KEPT, json_html=bool(grouped)
        ),
        secret=secret,
        now=lambda: options.now,
        run_id=run.id if run is not None else None,
        ceiling=SendCeiling(engine, options.send_rate, options.rate_clock, wait),
        size=options.batch_size,
        stop=options.stop,
    )


def resend_unknown(deliveries: Deliveries, run: Run | None, options, report: SendReport) -> None:
    """With `resend_unknown`, send the editions left `unknown` again, counted as resent."""
    if options.resend_unknown and run is not None:
        resent = deliveries.deliver(unknown_editions(deliveries.engine, run.id, only=options.only))
        resent["resent"], resent["sent"] = resent["sent"], 0
        report.counts += resent


def claim_and_deliver(
    engine: Engine,
    planner: Planner,
    deliveries: Deliveries,
    claim_options: ClaimOptions,
    ranges: Iterable[tuple[int, int | None]],
    report: SendReport,
    advanced: Callable[[int], None],
    *,
    plan_apart: bool = False,
) -> None:
    """Claim the due editions of the active subscribers in `ranges` (id ranges
    (after, upto], upto None: to the end of the list), a batch at a time in
    id order, handing each claimed edition to `deliveries` as it is claimed;
    then deliver everything still held. `advanced(n)` is told of every batch
    of n subscribers looked at. Stops claiming when `claim_options.stop` says
    so: what is claimed is still delivered, except with a grouping mailer,
    whose held claims are released instead (counted as "released"), also
    when the stop comes while they go out (after the provider call in flight).

    With `plan_apart` each batch is planned in a transaction that only reads
    and claimed in the next (`claim_planned` with `recheck`): SQLite has one
    write lock, and processes sharing a send would otherwise plan one at a
    time."""
    stopped = False
    for after, upto in ranges:
        while True:
            claimed = _claim_next(
                engine, planner, deliveries.cache, claim_options, after, upto, plan_apart
            )
            _spare_from_collector()
            if claimed.last_id is not None:
                after = claimed.last_id
            report.counts += claimed.counts
            report.planned += claimed.planned
            for planned in claimed.claimed:
                report.counts += deliveries.add(planned)
            advanced(claimed.seen)
            stopped = claimed.stopped
            if stopped:
                log.info("stopping: subscribers after id %d left for the next run", after)
            if stopped or claimed.seen == 0:
                break
        if stopped:
            break
    if not deliveries.stopping():
        report.counts += deliveries.finish()
    if deliveries.stopping():
        # A grouping mailer may hold up to HOLD_LIMIT claims: delivering them
        # could outlast a service manager's stop timeout (then a kill leaves
        # a call `unknown`). Released, they are the next run's to send; the
        # stop is asked before each provider call, so one that comes while
        # the groups go out ends the send after the call in flight.
        report.counts["released"] += deliveries.release_held()


def _claim_next(engine, planner, cache, claim_options, after, upto, plan_apart: bool):
    if not plan_apart:
        with engine.begin() as conn:
            return claim_next(conn, planner, cache, claim_options, after=after, upto=upto)
    with reading(engine) as conn:
        planned = plan_next(conn, planner, claim_options, after=after, upto=upto, recheck=True)
    record_ahead(cache, planned, claim_options)
    with engine.begin() as conn:
        return claim_planned(conn, planner, cache, claim_options, planned, recheck=True)


def _spare_from_collector() -> None:
    """Keep what the run has built so far out of the cyclic garbage
    collector's full passes until the run ends; called after each claim
    batch. The first batch's call spares the pool, the ranking index and the
    topics' rankings (millions of objects that live as long as the run: each
    pass over them cost about 0.2 s, some twenty times a 10,000-subscriber
    send); the later ones spare each batch's plans and claims, which a
    grouping mailer holds until their digest's group goes out, so the heap
    grows through the run (at 100,000 readers with two processes, 17 full
    passes of 0.3 s each, 5.3 s of each process's ~60 s, before this was
    done per batch). Nothing is freed later by this: those objects are
    referenced anyway, and what dies is freed by its reference count. No
    collection first: in a long-lived process (the scheduler's send ticks) a
    full collection of its whole heap at every send cost more than the send
    itself when little was due; cyclic garbage frozen here is freed after
    the send, when `_plan_all` unfreezes (a send shared by processes: when
    they exit). Peak memory was unchanged at 100,000 (805 MiB)."""
    gc.freeze()
