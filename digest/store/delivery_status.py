"""What `digest status` reports about delivery, as plain JSON-ready data:
editions by state for recent periods, the latest failures and every `unknown`
with their reasons and what to do, the last send run and runs still open."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from digest.db.schema import HAS_ERROR, editions, runs
from digest.store.editions import EDITION_MAILER, EDITIONS_AND_RUNS

PROBLEM_STATES = ("failed", "unknown")
ACTIONS = {
    "unknown": (
        "may or may not have been delivered (the provider's answer never came): "
        "check the provider's activity log, then `digest send --resend-unknown` to send "
        "them again (or leave them)"
    ),
    "failed": "rejected by the provider for this address; not retried (see the reason)",
}


def delivery_status(conn: Connection, *, now: datetime, days: int = 7, problems: int = 20) -> dict:
    since = now - timedelta(days=days)
    return {
        "periods": _by_period(conn, since),
        "problems": _problems(conn, problems),
        "problem_counts": _problem_counts(conn),
        "actions": ACTIONS,
        "last_send": _last_run(conn),
        "last_sent_at": _iso(conn.execute(select(func.max(editions.c.sent_at))).scalar()),
        "open_runs": _open_runs(conn),
    }


def _by_period(conn: Connection, since: datetime) -> dict[str, dict[str, int]]:
    query = (
        select(editions.c.period, editions.c.status, func.count())
        .where(editions.c.claimed_at >= since)
        .group_by(editions.c.period, editions.c.status)
    )
    periods: dict[str, dict[str, int]] = {}
    for period, status, count in conn.execute(query):
        periods.setdefault(period, {})[status] = count
    return dict(sorted(periods.items(), reverse=True))


def _problem_counts(conn: Connection) -> dict[str, int]:
    query = (
        select(editions.c.status, func.count())
        .where(editions.c.status.in_(PROBLEM_STATES), HAS_ERROR)
        .group_by(editions.c.status)
    )
    return dict(conn.execute(query).all())


def _problems(conn: Connection, limit: int) -> list[dict]:
    """Every `unknown` edition (each one waits for the operator's decision, and
    a single lost SendGrid request can leave 1000 of them) and the latest
    `limit` failures, latest first."""
    columns = (
        editions.c.id,
        editions.c.subscriber_id,
        editions.c.period,
        editions.c.status,
        EDITION_MAILER,
        editions.c.error,
        editions.c.claimed_at,
    )
    latest = (editions.c.claimed_at.desc(), editions.c.id.desc())
    problems = select(*columns).select_from(EDITIONS_AND_RUNS)
    unknown = problems.where(editions.c.status == "unknown", HAS_ERROR).order_by(*latest)
    failed = problems.where(editions.c.status == "failed", HAS_ERROR)
    failed = failed.order_by(*latest).limit(limit)
    rows = [*conn.execute(unknown), *conn.execute(failed)]
    rows.sort(key=lambda row: (row.claimed_at, row.id), reverse=True)
    return [
        {**row._mapping, "claimed_at": _iso(row.claimed_at), "error": row.error or ""}
        for row in rows
    ]


def _last_run(conn: Connection) -> dict | None:
    query = select(runs).where(runs.c.kind == "send").order_by(runs.c.id.desc()).limit(1)
    row = conn.execute(query).first()
    return _run(row) if row else None


def _open_runs(conn: Connection) -> list[dict]:
    query = select(runs).where(runs.c.ended_at.is_(None)).order_by(runs.c.id)
    return [_run(row) for row in conn.execute(query)]


def _run(row) -> dict:
    values = dict(row._mapping)
    return {
        **values,
        "started_at": _iso(values["started_at"]),
        "ended_at": _iso(values["ended_at"]),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
