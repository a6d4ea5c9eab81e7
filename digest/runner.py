"""`digest run`: the long-running scheduler process.

One scheduler acts on a database at a time. It holds the `scheduler` lock
(digest.locks: a PostgreSQL session advisory lock, or a flock beside the
SQLite file), which dies with the process. A second `digest run` finds the
lock taken and waits as a standby, asking again every `standby_poll`; when
the holder dies it takes over. The holder writes who it is (host, pid, since)
to `meta` for `digest status`.

Shutdown (`digest.shutdown.Signals`): the first SIGTERM/SIGINT stops
scheduling, lets a running job finish its bookkeeping (the send tick stops
claiming between subscribers and, with SendGrid, making provider calls after
the one in flight; what it sent is recorded, what it holds unsent released)
and exits 0. A second signal exits at once (128 + signal number); every write
is transactional, and a delivery cut short is reconciled by the next send
(DESIGN.md, "Runs and recovery").
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from digest import jobs
from digest.locks import SCHEDULER_LOCK, HeldLock, try_lock
from digest.schedule import build_scheduler, job_specs, sync_jobs
from digest.shutdown import Signals
from digest.store.scheduler import Holder, clear_holder, next_runs, read_holder, record_holder
from digest.triggers import parse_duration
from digest.wiring import Runtime

log = logging.getLogger("digest.run")

LOCK_NAME = SCHEDULER_LOCK


def run_scheduler(runtime: Runtime, signals: Signals | None = None) -> int:
    """Run until a signal; the exit status (0, or 1 when the lock was lost)."""
    if signals is None:
        signals = Signals()
        signals.install()
    if not log.isEnabledFor(logging.DEBUG):
        # Our own line per job run says what APScheduler's would, once.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    poll = parse_duration(runtime.settings.scheduler.standby_poll).total_seconds()
    lock = _wait_for_lock(runtime, signals, poll)
    if lock is None:
        log.info("stopped while standby")
        return 0
    try:
        return _schedule(runtime, lock, signals, poll)
    finally:
        lock.release()


def _wait_for_lock(runtime: Runtime, signals: Signals, poll: float) -> HeldLock | None:
    announced = False
    while True:
        try:
            lock = try_lock(runtime.engine, LOCK_NAME)
        except SQLAlchemyError as exc:
            log.warning("cannot reach the database to take the scheduler lock: %s", exc)
            lock = None
        if lock is not None:
            if announced:
                log.info("took over the scheduler lock: this process schedules now")
            return lock
        if not announced:
            log.info(
                "standby: another scheduler holds the lock (%s); asking again every %gs",
                _holder_label(runtime),
                poll,
            )
            announced = True
        if signals.sleep(poll):
            return None


def _schedule(runtime: Runtime, lock: HeldLock, signals: Signals, poll: float) -> int:
    engine = runtime.engine
    me = Holder(socket.gethostname(), os.getpid(), datetime.now(UTC).replace(microsecond=0))
    with engine.begin() as conn:
        record_holder(conn, me)
    context = jobs.JobContext(runtime)
    jobs.bind(context)
    scheduler = build_scheduler(engine, runtime.settings)
    status = 0
    try:
        scheduler.start(paused=True)
        sync_jobs(scheduler, job_specs(runtime.settings))
        _log_next_runs(runtime)
        scheduler.resume()
        log.info("scheduler started (%s)", me.label())
        while not signals.sleep(poll):
            if not lock.alive():
                log.error("lost the scheduler lock (database session ended); stopping")
                status = 1
                break
        if signals.stopping():
            log.info(
                "%s: finishing the running job, then exiting (again: exit at once)", signals.name()
            )
    finally:
        context.stopping.set()
        if scheduler.running:
            scheduler.pause()  # no new submissions while the executors drain
            scheduler.shutdown(wait=True)
        jobs.bind(None)
        context.close()
        try:
            with engine.begin() as conn:
                clear_holder(conn, me.pid)
        except SQLAlchemyError as exc:
            log.warning("could not clear the scheduler holder record: %s", exc)
    log.info("scheduler stopped")
    return status


def _log_next_runs(runtime: Runtime) -> None:
    with runtime.engine.begin() as conn:
        for job_id, when in next_runs(conn):
            shown = f"{when:%Y-%m-%d %H:%M:%S} UTC" if when else "paused"
            log.info("job %s: next run %s", job_id, shown)


def _holder_label(runtime: Runtime) -> str:
    try:
        with runtime.engine.begin() as conn:
            holder = read_holder(conn)
    except SQLAlchemyError:
        return "holder unknown"
    return holder.label() if holder else "holder unknown"
