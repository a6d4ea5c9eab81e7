"""Runs (one row per sending process) and the shared send-rate bucket.

A run's row is inserted in the same transaction that is still open while the
process takes its liveness lock, so no other process ever sees an open run row
whose lock is not yet held (see `digest.runs.start_run`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from digest.db.schema import runs, send_rate
from digest.store.upsert import insert


def insert_run(
    conn: Connection, *, kind: str, host: str, pid: int, now: datetime, mailer: str | None = None
) -> int:
    """A new open run; `mailer` names the mailer its editions go through (None:
    it sends nothing)."""
    statement = runs.insert().values(
        kind=kind, host=host[:255], pid=pid, started_at=now, mailer=mailer
    )
    return conn.execute(statement.returning(runs.c.id)).scalar_one()


def open_runs(conn: Connection, *, exclude: int | None = None) -> list[dict]:
    """Runs not yet ended (live, or dead and not yet recovered), oldest first."""
    query = select(runs).where(runs.c.ended_at.is_(None)).order_by(runs.c.id)
    if exclude is not None:
        query = query.where(runs.c.id != exclude)
    return [dict(row._mapping) for row in conn.execute(query)]


def lock_open_run(conn: Connection, run_id: int) -> bool:
    """Hold the run's row for the caller's transaction (PostgreSQL: FOR UPDATE;
    SQLite: the transaction already holds the write lock). False when it has
    ended meanwhile (another process recovered it first)."""
    query = select(runs.c.id).where(runs.c.id == run_id, runs.c.ended_at.is_(None))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first() is not None


def end_run(conn: Connection, run_id: int, *, outcome: str, now: datetime) -> None:
    conn.execute(
        update(runs)
        .where(runs.c.id == run_id, runs.c.ended_at.is_(None))
        .values(ended_at=now, outcome=outcome)
    )


def reserve_slot(conn: Connection, name: str, *, cost: float, now: float) -> float:
    """Reserve `cost` seconds of the bucket `name` and return when the caller may
    start (epoch seconds, never before `now`). The row is locked for the
    caller's transaction, so concurrent senders queue one after another."""
    conn.execute(insert(conn, send_rate).values(name=name, next_at=now).on_conflict_do_nothing())
    query = select(send_rate.c.next_at).where(send_rate.c.name == name)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    start = max(conn.execute(query).scalar_one(), now)
    conn.execute(update(send_rate).where(send_rate.c.name == name).values(next_at=start + cost))
    return start
