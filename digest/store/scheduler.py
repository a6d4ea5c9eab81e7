"""What `digest status` shows about the scheduler: who holds it, and when each
job runs next.

The holder record (host, pid, since) is written to `meta` by the process that
takes the `scheduler` lock. The lock itself says whether that process is still
alive: the record alone can outlive a killed holder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, select

from digest.db.schema import apscheduler_jobs, meta

HOLDER_KEY = "scheduler_holder"


@dataclass
class Holder:
    host: str
    pid: int
    since: datetime

    def label(self) -> str:
        return f"{self.host} pid {self.pid} since {self.since:%Y-%m-%d %H:%M:%S} UTC"


def record_holder(conn: Connection, holder: Holder) -> None:
    value = json.dumps({"host": holder.host, "pid": holder.pid, "since": holder.since.isoformat()})
    conn.execute(delete(meta).where(meta.c.key == HOLDER_KEY))
    conn.execute(meta.insert().values(key=HOLDER_KEY, value=value))


def clear_holder(conn: Connection, pid: int) -> None:
    """Forget the record if it is this process's (a successor may have written its own)."""
    holder = read_holder(conn)
    if holder is not None and holder.pid == pid:
        conn.execute(delete(meta).where(meta.c.key == HOLDER_KEY))


def read_holder(conn: Connection) -> Holder | None:
    value = conn.execute(select(meta.c.value).where(meta.c.key == HOLDER_KEY)).scalar()
    if not value:
        return None
    data = json.loads(value)
    return Holder(data["host"], int(data["pid"]), datetime.fromisoformat(data["since"]))


def next_runs(conn: Connection) -> list[tuple[str, datetime | None]]:
    """(job id, next run time or None when paused), soonest first."""
    rows = conn.execute(
        select(apscheduler_jobs.c.id, apscheduler_jobs.c.next_run_time).order_by(
            apscheduler_jobs.c.next_run_time, apscheduler_jobs.c.id
        )
    )
    return [
        (job_id, None if ts is None else datetime.fromtimestamp(ts, UTC)) for job_id, ts in rows
    ]
