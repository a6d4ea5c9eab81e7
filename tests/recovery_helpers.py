"""Runs that die or stall on purpose, built from the real send code."""

from __future__ import annotations

from datetime import datetime

from digest.claims import ClaimOptions, claim_next
from digest.delivery import deliver_batch
from digest.editions import Planned, Planner
from digest.mail.outbox import OutboxMailer
from digest.render import CompileCache
from digest.runs import Run, start_run
from digest.store import editions as edition_store
from tests.pipeline_helpers import SECRET, SITE


def claim_all(
    engine, now: datetime, *, on_date=None, mailer: str = "outbox"
) -> tuple[Run, list[Planned]]:
    """A run (through the mailer named `mailer`) that plans and claims every
    active subscriber's due edition, as `digest send` does, and stops there."""
    run = start_run(engine, now=now, mailer=mailer)
    cache = CompileCache(SITE)
    with engine.begin() as conn:
        planner = Planner.load(conn, now=now, retention_days=365)
    options = ClaimOptions(now=now, run_id=run.id, on_date=on_date, force_hour=True)
    claimed, after = [], 0
    while True:
        with engine.begin() as conn:
            batch = claim_next(conn, planner, cache, options, after=after)
        if batch.last_id is None:
            return run, claimed
        after = batch.last_id
        claimed += batch.claimed


def die(run: Run) -> None:
    """The process is gone: its lock is free and its row still open."""
    run.lock.release()


def hand_over_all(engine, run: Run, planned: list[Planned]) -> list[int]:
    """Move the run's claims to `sending`, as the send loop does before a call."""
    with engine.begin() as conn:
        moved, _ = edition_store.hand_over(conn, [p.edition_id for p in planned], run_id=run.id)
    return moved


def deliver(engine, run: Run, planned: list[Planned], outbox, now: datetime):
    mailer = OutboxMailer(outbox, SITE.sender)
    return deliver_batch(
        engine, mailer, planned, cache=CompileCache(SITE), secret=SECRET, now=now, run_id=run.id
    )
