"""The jobs `digest run` schedules: fetch a source, the send tick, housekeeping.

APScheduler stores each job by module path (`"digest.jobs:send_tick"`) with
pickled arguments, so a job carries only plain values (a source name). The
live parts a job needs (engine, settings, mailer, the stop flag) are bound to
this module by the running scheduler with `bind()`.

Each run logs exactly one line: the job, its outcome (`ok`, `failed`,
`incomplete`, `skipped`), its counts and duration (as fields when
DIGEST_LOG_FORMAT=json). A job that fails is logged with its reason and is
not retried early: it runs again at its next scheduled time.

The `run_*` functions take the time explicitly, so tests can step a clock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from digest.http import Fetcher, FetchError, user_agent_for
from digest.ingest import SourceReport, fetch_one
from digest.send import SendOptions, SendReport, run_send
from digest.send_queue import TASK as QUEUE_TASK
from digest.store import housekeeping as tidy
from digest.store.digests import prune_digests
from digest.store.queue_jobs import has_queue, prune_finished_jobs
from digest.text import one_line
from digest.wiring import Runtime

log = logging.getLogger("digest.jobs")

# Finished send-queue jobs are kept this long (to look into), then pruned.
FINISHED_JOBS_KEPT = timedelta(days=7)

# Confirmation links expire after 7 days (DESIGN.md, "Tokens").
CONFIRMATION_LIFETIME = timedelta(days=7)


@dataclass
class JobContext:
    """What the jobs of one running scheduler share."""

    runtime: Runtime
    stopping: threading.Event = field(default_factory=threading.Event)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _fetcher: Fetcher | None = None
    _queue_app: object | None = None

    @property
    def fetcher(self) -> Fetcher:
        """One Fetcher for every fetch job, so the pause between requests to
        arXiv holds across sources. Fetch jobs run one at a time (their executor
        has one thread); the Fetcher is not thread-safe."""
        if self._fetcher is None:
            agent = user_agent_for(self.runtime.settings.contact)
            self._fetcher = Fetcher(user_agent=agent, sleep=self._sleep)
        return self._fetcher

    @property
    def queue_app(self):
        """The send queue's procrastinate app (digest.send_queue), made once."""
        if self._queue_app is None:
            from digest.send_queue import make_app

            self._queue_app = make_app(self.runtime.settings.database_url)
        return self._queue_app

    def _sleep(self, seconds: float) -> None:
        """The Fetcher's pauses (backoff, arXiv's interval), cut short by shutdown."""
        if self.stopping.wait(seconds):
            raise FetchError("stopped: the scheduler is shutting down")

    def close(self) -> None:
        if self._fetcher is not None:
            self._fetcher.close()
            self._fetcher = None


_bound: JobContext | None = None


def bind(context: JobContext | None) -> None:
    """Give the jobs their context (None unbinds)."""
    global _bound
    _bound = context


def _context() -> JobContext:
    if _bound is None:
        raise RuntimeError("digest.jobs runs only inside `digest run` (no context bound)")
    return _bound


# The scheduled entry points (referenced by module path in the job store).


def fetch_source(source: str) -> None:
    ctx = _context()
    _logged(f"fetch:{source}", ctx, lambda: _fetch_outcome(run_fetch(ctx, source, ctx.clock())))


def send_tick() -> None:
    ctx = _context()
    _logged("send", ctx, lambda: _send_outcome(run_send_tick(ctx, ctx.clock())))


def housekeeping() -> None:
    ctx = _context()
    _logged("housekeeping", ctx, lambda: ("ok", dict(run_housekeeping(ctx, ctx.clock())), ""))


# What each job does, at an explicit time.


def run_fetch(ctx: JobContext, source: str, now: datetime) -> SourceReport:
    settings = ctx.runtime.settings
    hf_token = settings.hf_token.get_secret_value() if settings.hf_token else None
    return fetch_one(
        ctx.runtime.engine,
        ctx.fetcher,
        settings.source(source),
        now=now,
        listing_date=None,
        hf_token=hf_token,
    )


def run_send_tick(ctx: JobContext, now: datetime) -> SendReport:
    """Send every edition `due()` says is due at `now` (each subscriber's local
    hour), stopping between subscribers when the scheduler is shutting down.
    With `send_queue = "procrastinate"` the editions are claimed and queued for
    `digest worker` processes instead (digest.queued_send.enqueue_due)."""
    settings = ctx.runtime.settings
    options = SendOptions(
        now=now,
        send_empty=settings.send_empty,
        retention_days=settings.retention_days,
        send_rate=settings.send_rate,
        claim_size=settings.queue.batch_size,
        processes=settings.send_processes,
        stop=ctx.stopping.is_set,
    )
    mailer = ctx.runtime.mailer()
    try:
        if settings.send_queue == "procrastinate":
            from digest.queued_send import enqueue_due

            return enqueue_due(
                ctx.runtime.engine, mailer, ctx.queue_app, options, site=ctx.runtime.site
            )
        return run_send(
            ctx.runtime.engine, mailer, options, site=ctx.runtime.site, secret=ctx.runtime.secret
        )
    finally:
        mailer.close()


def run_housekeeping(ctx: JobContext, now: datetime) -> Counter:
    """Prune what is past its use: editions past the retention period (each
    subscriber's latest edition stays) and the digests no edition points at
    any more, sign-ups never confirmed within the confirmation lifetime, the
    fetch state of removed sources, and (PostgreSQL) send-queue jobs finished
    more than a week ago."""
    settings = ctx.runtime.settings
    cutoff = now - timedelta(days=settings.retention_days)
    counts: Counter = Counter()
    with ctx.runtime.engine.begin() as conn:
        counts["editions"] = tidy.prune_editions(conn, before=cutoff)
        counts["digests"] = prune_digests(conn, before=cutoff)
        counts["unconfirmed"] = tidy.prune_unconfirmed(
            conn, created_before=now - CONFIRMATION_LIFETIME
        )
        counts["fetch_states"] = tidy.prune_fetch_states(
            conn, keep=[s.name for s in settings.sources]
        )
        if has_queue(conn):
            counts["queue_jobs"] = prune_finished_jobs(
                conn, QUEUE_TASK, before=now - FINISHED_JOBS_KEPT
            )
    return counts


# One log line per run.


def _fetch_outcome(report: SourceReport) -> tuple[str, dict, str]:
    counts = {k: v for k, v in report.as_dict().items() if k != "not_modified"}
    if report.error:
        return "failed", counts, report.error
    return "ok", counts, "; ".join(report.notes)


def _send_outcome(report: SendReport) -> tuple[str, dict, str]:
    counts = {k: n for k, n in report.counts.items() if n}
    troubled = any(counts.get(k) for k in ("failed", "unknown", "released"))
    return ("incomplete" if troubled else "ok"), counts, "" if counts else "nothing due"


def _logged(job: str, ctx: JobContext, body: Callable[[], tuple[str, dict, str]]) -> None:
    """Run `body` (→ outcome, counts, note) and log one line about it. Exceptions
    are logged with their reason and not raised: the job stays scheduled."""
    if ctx.stopping.is_set():
        _log_run(job, "skipped", {}, "shutting down", 0.0)
        return
    started = time.monotonic()
    try:
        outcome, counts, note = body()
    except Exception as exc:  # noqa: BLE001 - a failing job must not stop the scheduler
        reason = one_line(f"{type(exc).__name__}: {exc}", 500)
        _log_run(job, "failed", {}, reason, time.monotonic() - started, exc_info=True)
        return
    _log_run(job, outcome, counts, note, time.monotonic() - started)


def _log_run(
    job: str, outcome: str, counts: dict, note: str, seconds: float, *, exc_info: bool = False
) -> None:
    shown = ", ".join(f"{k} {v}" for k, v in counts.items())
    text = f"job {job} {outcome} in {seconds:.2f}s" + (f": {shown}" if shown else "")
    if note:
        text += f" ({note})" if shown else f": {note}"
    level = logging.ERROR if outcome == "failed" else logging.INFO
    if outcome == "incomplete":
        level = logging.WARNING
    fields = {
        "job": job,
        "outcome": outcome,
        "duration_s": round(seconds, 3),
        "counts": counts,
        "note": note or None,
    }
    # The traceback goes to DEBUG: the line itself carries the reason.
    log.log(level, text, extra={"fields": fields})
    if exc_info:
        log.debug("job %s traceback", job, exc_info=True)
