"""Runs and recovery (DESIGN.md "Runs and recovery").

Every claim belongs to the run that made it, and a run holds the liveness lock
`run:<id>` (digest/locks.py) for as long as its process lives. A run whose row
is still open but whose lock is free has died, and any run recovers it at once,
before planning anything:

- its `pending` editions never reached a mailer: released (claim and sent-log
  rows removed), so their papers are candidates for the subscriber's next
  edition;
- its `sending` editions were in one provider call when it died: the mailer
  reconciles them where it can tell (the outbox knows which files it wrote),
  else they become `unknown`, never resent unless the operator asks
  (`digest send --resend-unknown`).

A live run keeps its claims however slow it is: no lease, no clock. A run that
lost its lock anyway (its database session died while it was stalled) finds at
hand-over that its claims are no longer its own and sends nothing
(`digest.store.editions.hand_over`).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from digest.locks import HeldLock, is_held, try_lock
from digest.mail.base import Mailer
from digest.store import editions as edition_store
from digest.store import runs as run_store

log = logging.getLogger(__name__)

# Seconds a dead process's database session may take to end (see `is_dead`).
LOCK_GRACE = 10.0

# Recorded on `sending` editions nobody could reconcile.
INTERRUPTED = (
    "the sending run was interrupted during this provider call; it may have been delivered"
)


@dataclass
class Run:
    id: int
    lock: HeldLock


def lock_name(run_id: int) -> str:
    return f"run:{run_id}"


def start_run(
    engine: Engine, *, now: datetime, kind: str = "send", mailer: str | None = None
) -> Run:
    """Register a run and take its lock. The row commits only once the lock is
    held, so nobody can see this run open and unlocked (and recover it). The
    run records the name of the `mailer` it sends through (None: it sends
    nothing), whom its `sending` editions are reconciled with should it die."""
    with engine.begin() as conn:
        run_id = run_store.insert_run(
            conn,
            kind=kind,
            host=socket.gethostname(),
            pid=os.getpid(),
            now=now,
            mailer=mailer,
        )
        lock = try_lock(engine, lock_name(run_id))
        if lock is None:  # a stale lock of a reused id: refuse rather than share it
            raise RuntimeError(f"the lock of new run {run_id} is held by another process")
    return Run(run_id, lock)


def finish_run(engine: Engine, run: Run, mailer: Mailer | None, *, now: datetime) -> Counter:
    """End the run: whatever it still holds is tidied as a dead run's would be
    (a run that stopped early leaves nothing stranded), then its lock is freed."""
    try:
        return _recover(engine, run.id, mailer, now=now, outcome="finished")
    finally:
        run.lock.release()


def recover_dead_runs(
    engine: Engine, mailer: Mailer | None, *, now: datetime, me: int | None = None
) -> Counter:
    """Recover every open run whose lock is free, and claims older than runs.
    Returns counts: released, sent and unknown (reconciled `sending` editions)."""
    with engine.begin() as conn:
        candidates = run_store.open_runs(conn, exclude=me)
    counts = _recover(engine, None, mailer, now=now, outcome=None)
    for run in candidates:
        if is_dead(engine, run):
            counts += _recover(engine, run["id"], mailer, now=now, outcome="recovered")
    if any(counts.values()):
        log.warning(
            "recovered interrupted runs: %d claims released, %d reconciled as sent, "
            "%d unknown (see `digest status`)",
            counts["released"],
            counts["sent"],
            counts["unknown"],
        )
    return counts


def is_dead(engine: Engine, run: dict, *, grace: float = LOCK_GRACE) -> bool:
    """Whether the run's process is gone: its lock is free. A PostgreSQL session
    outlives a killed client for a moment, so when the run's process is
    certainly gone (this host, no such pid) its lock is given `grace` seconds
    to be freed; the lock alone decides."""
    if not is_held(engine, lock_name(run["id"])):
        return True
    if run["host"] != socket.gethostname() or _pid_alive(run["pid"]):
        return False
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if not is_held(engine, lock_name(run["id"])):
            return True
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _recover(
    engine: Engine, run_id: int | None, mailer: Mailer | None, *, now: datetime, outcome
) -> Counter:
    """Release a run's pending claims and settle its sending ones, in one
    transaction that holds the run's row (two recoverers do it once)."""
    counts: Counter = Counter()
    with engine.begin() as conn:
        if run_id is not None and not run_store.lock_open_run(conn, run_id):
            return counts
        counts["released"] += edition_store.release_pending(conn, run_id)
        flying = edition_store.in_flight(conn, run_id)
        verdicts = reconcile(mailer, flying)
        for row in flying:
            verdict = verdicts.get(row["id"], "unknown")
            edition_store.settle_in_flight(conn, row["id"], verdict, now=now, error=INTERRUPTED)
            counts[verdict] += 1
        if run_id is not None and outcome is not None:
            run_store.end_run(conn, run_id, outcome=outcome, now=now)
    return +counts  # without zero counts


def reconcile(mailer: Mailer | None, flying: Sequence[dict]) -> dict[int, str]:
    """Ask the mailer (when it can tell, and only about editions it sent itself)
    which in-flight editions were delivered: {edition id: "sent" | "released"}."""
    ask: Callable | None = getattr(mailer, "reconcile", None)
    mine = [row for row in flying if mailer is not None and row["mailer"] == mailer.name]
    if ask is None or not mine:
        return {}
    return {eid: v for eid, v in ask(mine).items() if v in ("sent", "released")}
