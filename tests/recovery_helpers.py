"""Runs that die or stall on purpose, built from the real send code."""

from __future__ import annotations

from datetime import datetime

from digest.delivery import deliver_batch
from digest.editions import Planned, Planner, claim, due_period, history
from digest.mail.outbox import OutboxMailer
from digest.render import CompileCache
from digest.runs import Run, start_run
from digest.store import editions as edition_store
from digest.store.subscribers import list_subscribers
from tests.pipeline_helpers import SECRET, SITE


def claim_all(engine, now: datetime, *, on_date=None) -> tuple[Run, list[Planned]]:
    """A run that plans and claims every active subscriber's due edition."""
    run = start_run(engine, now=now)
    cache = CompileCache(SITE)
    claimed = []
    with engine.begin() as conn:
        subscribers = list_subscribers(conn, status="active")
        planner = Planner.load(conn, now=now, retention_days=365)
    for subscriber in subscribers:
        with engine.begin() as conn:
            period = due_period(conn, subscriber, now, on_date=on_date, force_hour=True)
            if period is None:
                continue
            previous, sent = history(conn, subscriber.id, now=now)
            planned = planner.plan(subscriber, period, previous_claim=previous, sent=sent)
            keys = cache.get(planned.digest).paper_keys
            if claim(conn, planned, now=now, keys=keys, run_id=run.id):
                claimed.append(planned)
    return run, claimed


def die(run: Run) -> None:
    """The process is gone: its lock is free and its row still open."""
    run.lock.release()


def hand_over_all(engine, run: Run, planned: list[Planned], mailer: str = "outbox") -> list[int]:
    """Move the run's claims to `sending`, as the send loop does before a call."""
    with engine.begin() as conn:
        moved, _ = edition_store.hand_over(
            conn, [p.edition_id for p in planned], run_id=run.id, mailer=mailer
        )
    return moved


def deliver(engine, run: Run, planned: list[Planned], outbox, now: datetime):
    mailer = OutboxMailer(outbox, SITE.sender)
    return deliver_batch(
        engine, mailer, planned, cache=CompileCache(SITE), secret=SECRET, now=now, run_id=run.id
    )
