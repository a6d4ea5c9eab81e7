"""Builders for scheduler tests: a job context on a test database, stepped clocks."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from digest.config import load_settings
from digest.db.schema import editions
from digest.jobs import JobContext
from digest.preferences import Preferences, TopicChoice
from digest.store.subscribers import add_subscriber
from digest.wiring import Runtime


def job_context(database_url: str, outbox: Path, config: Path | None = None, **env) -> JobContext:
    environ = {
        "DIGEST_DATABASE_URL": database_url,
        "DIGEST_MAILER": "outbox",
        "DIGEST_OUTBOX_DIR": str(outbox),
        "DIGEST_SECRET_KEY": "test-secret-key",
        "DIGEST_BASE_URL": "https://digest.example.org",
        **env,
    }
    return JobContext(Runtime(load_settings(config, environ)))


def add_active(engine, email: str, *, joined: datetime, **prefs) -> int:
    prefs.setdefault("topics", [TopicChoice("computer-vision")])
    with engine.begin() as conn:
        return add_subscriber(conn, email, Preferences(**prefs), status="active", now=joined)


def ticks(start: datetime, end: datetime, every: timedelta):
    moment = start
    while moment <= end:
        yield moment
        moment += every


def editions_of(engine, after_id: int = 0) -> list[dict]:
    with engine.begin() as conn:
        query = select(editions).where(editions.c.id > after_id).order_by(editions.c.id)
        rows = conn.execute(query)
        return [dict(row._mapping) for row in rows]
