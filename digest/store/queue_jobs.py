"""Reading procrastinate's tables (the send queue, PostgreSQL only): queue
depth, the workers seen recently, the editions live jobs hold, and pruning
finished jobs. procrastinate writes these tables itself (defer, fetch,
heartbeats); these are plain reads and one housekeeping delete, by the names of
its schema (revision 0008). Jobs of other tasks are left alone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, text

from digest.db.schema import QUEUE_PREFIX

JOBS = QUEUE_PREFIX + "jobs"
LIVE = ("todo", "doing")  # waiting, running
FINAL = ("succeeded", "failed", "cancelled", "aborted")


def has_queue(conn: Connection) -> bool:
    """Whether this database has the queue's tables (PostgreSQL at 0008 or later)."""
    return conn.dialect.name == "postgresql" and conn.dialect.has_table(conn, JOBS)


def job_counts(conn: Connection, task: str) -> dict[str, int]:
    """The task's jobs by procrastinate status (todo, doing, succeeded, failed, ...)."""
    rows = conn.execute(
        text(
            "SELECT status::text, count(*) FROM procrastinate_jobs"
            " WHERE task_name = :task GROUP BY status"
        ),
        {"task": task},
    )
    return {status: count for status, count in rows}


def live_job_editions(conn: Connection, task: str, key: str) -> set[int]:
    """The edition ids named (argument `key`) by the task's jobs still waiting
    or running."""
    rows = conn.execute(
        text(
            "SELECT args -> :key FROM procrastinate_jobs"
            " WHERE task_name = :task AND status::text IN ('todo', 'doing')"
        ),
        {"task": task, "key": key},
    )
    return {int(eid) for (ids,) in rows for eid in ids or []}


def workers_seen(conn: Connection, *, within_seconds: float) -> list[dict]:
    """procrastinate's registered workers whose last heartbeat is at most
    `within_seconds` old, newest first: id, last_heartbeat, age_s."""
    rows = conn.execute(
        text(
            "SELECT id, last_heartbeat, extract(epoch FROM now() - last_heartbeat) AS age"
            " FROM procrastinate_workers"
            " WHERE last_heartbeat > now() - make_interval(secs => :within)"
            " ORDER BY last_heartbeat DESC, id"
        ),
        {"within": within_seconds},
    )
    return [
        {"id": row.id, "last_heartbeat": row.last_heartbeat, "age_s": round(float(row.age), 1)}
        for row in rows
    ]


def prune_finished_jobs(conn: Connection, task: str, *, before: datetime) -> int:
    """Delete the task's jobs in a final state whose last event is older than
    `before` (their events go with them). Waiting and running jobs stay."""
    return conn.execute(
        text(
            "DELETE FROM procrastinate_jobs j"
            " WHERE j.task_name = :task AND j.status::text IN :final"
            " AND NOT EXISTS (SELECT 1 FROM procrastinate_events e"
            "                 WHERE e.job_id = j.id AND e.at >= :before)"
        ).bindparams(bindparam("final", expanding=True)),
        {"task": task, "final": list(FINAL), "before": before},
    ).rowcount


def queue_summary(conn: Connection, task: str, *, workers_within: float) -> dict | None:
    """The queue at a glance, None without one (SQLite): jobs waiting, running
    and failed for good, and the workers seen in the last `workers_within`
    seconds."""
    if not has_queue(conn):
        return None
    counts = job_counts(conn, task)
    return {
        "waiting": counts.get("todo", 0),
        "running": counts.get("doing", 0),
        "failed": counts.get("failed", 0),
        "workers": workers_seen(conn, within_seconds=workers_within),
        "workers_within_s": workers_within,
    }
