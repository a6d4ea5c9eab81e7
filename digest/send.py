"""`digest send`: claim and deliver every edition that is due.

Each subscriber's edition is planned and claimed in one short transaction (the
unique (subscriber, period) key makes a concurrent or repeated run claim
nothing twice), then claimed editions are delivered in batches through
`deliver_batch`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from digest.delivery import deliver_batch
from digest.editions import Planned, Planner, claim, due_period, history
from digest.mail.base import Mailer
from digest.render import CompileCache, SiteInfo
from digest.store import editions as edition_store
from digest.store.subscribers import Subscriber, list_subscribers, lock_subscriber

log = logging.getLogger(__name__)

BATCH_SIZE = 100
# A pending claim older than this was left by a run that died before sending.
STALE_CLAIM = timedelta(minutes=30)


@dataclass
class SendOptions:
    now: datetime
    on_date: date | None = None
    force_hour: bool = False
    only: str | None = None
    dry_run: bool = False
    send_empty: bool = False
    retention_days: int = 365
    batch_size: int = BATCH_SIZE
    # Wall clock for claim leases; `now` may be a replayed time (demo, tests).
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class SendReport:
    counts: Counter = field(default_factory=Counter)
    planned: list[Planned] = field(default_factory=list)  # dry runs only

    def line(self) -> str:
        order = ("sent", "empty", "failed", "unknown", "released", "would-send")
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
    now = options.now
    cache = CompileCache(site)
    with engine.begin() as conn:
        if not options.dry_run:
            released, unknown = edition_store.release_stale(
                conn, leased_before=options.clock() - STALE_CLAIM
            )
            if released or unknown:
                log.warning(
                    "an interrupted run left %d editions pending (released, to be sent now) "
                    "and %d sending (now unknown)",
                    released,
                    unknown,
                )
        subscribers = _recipients(conn, options.only)
        planner = Planner.load(conn, now=now, retention_days=options.retention_days)
    batch: list[Planned] = []
    for done, subscriber in enumerate(subscribers, 1):
        planned = _plan_and_claim(engine, planner, cache, subscriber, options, report)
        if planned is not None:
            batch.append(planned)
        if len(batch) >= options.batch_size:
            report.counts += deliver_batch(
                engine, mailer, batch, cache=cache, secret=secret, now=now
            )
            batch = []
        if progress:
            progress(done, len(subscribers))
    if batch:
        report.counts += deliver_batch(engine, mailer, batch, cache=cache, secret=secret, now=now)
    if not options.dry_run:
        prune(engine, now=now, retention_days=options.retention_days)
    return report


def prune(engine: Engine, *, now: datetime, retention_days: int) -> int:
    """Forget sent-log rows past the retention period. Safe: papers first published
    that long ago are never candidates (see `digest.selection`)."""
    with engine.begin() as conn:
        removed = edition_store.prune_sent_log(conn, before=now - timedelta(days=retention_days))
    if removed:
        log.info("pruned %d sent-log rows older than %d days", removed, retention_days)
    return removed


def _recipients(conn, only: str | None) -> list[Subscriber]:
    active = list_subscribers(conn, status="active")
    if only is None:
        return active
    return [s for s in active if s.email == only]


def _plan_and_claim(
    engine: Engine,
    planner: Planner,
    cache: CompileCache,
    subscriber: Subscriber,
    options: SendOptions,
    report: SendReport,
) -> Planned | None:
    """Plan the subscriber's due edition and claim it; None when nothing to deliver.

    Runs in one transaction holding the subscriber's row (SQLite: the write
    lock), so a concurrent run plans this subscriber only after this one has
    claimed, and sees its sent log. The digest is
    compiled before the claim so that the sent log holds exactly the papers the
    email shows (past the size budget, the rest are only counted)."""
    try:
        with engine.begin() as conn:
            lock_subscriber(conn, subscriber.id)
            return _plan_and_claim_locked(conn, planner, cache, subscriber, options, report)
    except IntegrityError:
        # Only a stale plan can collide with the sent log; the next run replans.
        log.warning("subscriber %s: edition changed under us; skipped this run", subscriber.id)
        return None


def _plan_and_claim_locked(conn, planner, cache, subscriber, options, report) -> Planned | None:
    period = due_period(
        conn, subscriber, options.now, on_date=options.on_date, force_hour=options.force_hour
    )
    if period is None:
        return None
    previous, sent = history(conn, subscriber.id)
    planned = planner.plan(subscriber, period, previous_claim=previous, sent=sent)
    if options.dry_run:
        # Classified as the real run below would: an empty edition sends nothing.
        empty = planned.empty and not options.send_empty
        report.counts["empty" if empty else "would-send"] += 1
        report.planned.append(planned)
        return None
    lease = {"now": options.now, "leased_at": options.clock()}
    if planned.empty and not options.send_empty:
        if claim(conn, planned, status="empty", **lease):
            report.counts["empty"] += 1
            log.info("edition %s for subscriber %s is empty: nothing sent", period, subscriber.id)
        return None
    shown = cache.get(planned.digest).paper_keys
    return planned if claim(conn, planned, keys=shown, **lease) else None
