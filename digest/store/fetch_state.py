"""Per-source fetch state: validators for conditional GET and the last outcome."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from digest.db.schema import fetch_state


def load_state(conn: Connection, source: str) -> dict:
    row = conn.execute(select(fetch_state).where(fetch_state.c.source == source)).first()
    return dict(row._mapping) if row else {"source": source, "etag": None, "last_modified": None}


def record_attempt(
    conn: Connection,
    source: str,
    *,
    now: datetime,
    error: str | None,
    report: dict,
    validators: tuple[str | None, str | None] | None = None,
) -> None:
    """Store the outcome of one fetch. `validators` (ETag, Last-Modified) replace
    the stored ones when given; they are given only on success, so a failed
    fetch never makes the next one conditional on bad data."""
    values: dict = {"last_attempt_at": now, "last_error": error, "last_report": report}
    if error is None:
        values["last_success_at"] = now
    if validators is not None:
        values["etag"], values["last_modified"] = validators
    updated = conn.execute(
        fetch_state.update().where(fetch_state.c.source == source).values(values)
    ).rowcount
    if not updated:
        conn.execute(fetch_state.insert().values(source=source, **values))


def all_states(conn: Connection) -> list[dict]:
    rows = conn.execute(select(fetch_state).order_by(fetch_state.c.source))
    return [dict(row._mapping) for row in rows]
