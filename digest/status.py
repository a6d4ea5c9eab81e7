"""What `digest status` reports, gathered as plain data, and the record of the
last send run that it shows.

`collect(conn)` returns a dict of JSON-friendly values (datetimes aside); the
CLI renders it as tables, tab-separated lines or JSON. To report something
new, add a key here (and a few lines to `digest/cli/status.py` to show it).

People appear as `who(id, email)`, e.g. "#3 c***@example.org": enough to tell
subscribers apart in a report, never the full address (logs name the id only).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from digest.send_queue import TASK as QUEUE_TASK
from digest.store import editions as edition_store
from digest.store import meta as meta_store
from digest.store.delivery_status import delivery_status
from digest.store.fetch_state import all_states
from digest.store.papers import count_papers
from digest.store.queue_jobs import queue_summary
from digest.store.subscribers import list_subscribers

log = logging.getLogger(__name__)

LAST_SEND = "last_send"
RECENT_EDITIONS = 10


def mask_email(email: str) -> str:
    """ "carol@example.org" -> "c***@example.org"."""
    local, at, domain = email.rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def who(subscriber_id: int, email: str | None) -> str:
    return f"#{subscriber_id} {mask_email(email)}" if email else f"#{subscriber_id}"


def record_send(engine: Engine, record: dict[str, Any]) -> None:
    """Keep `record` as the last send run's: a JSON-able dict with `started_at`,
    `finished_at` (ISO strings), `ok`, `summary` (`SendReport.line()`),
    `counts`, `problems` (lines naming subscribers by id). Never raises: the
    send it describes is done either way."""
    value = json.dumps(record, default=str)
    for _ in range(2):  # a concurrent first write may win the insert; then update
        try:
            with engine.begin() as conn:
                meta_store.set_value(conn, LAST_SEND, value)
            return
        except IntegrityError:
            continue
        except Exception:  # noqa: BLE001 - reporting must not turn a send into a failure
            break
    log.warning("could not record the send run's outcome for `digest status`")


def last_send(conn: Connection) -> dict[str, Any] | None:
    value = meta_store.get_value(conn, LAST_SEND)
    return json.loads(value) if value else None


def collect(
    conn: Connection, *, now: datetime | None = None, workers_within: float = 30.0
) -> dict[str, Any]:
    """Everything `digest status` shows, as plain data (the scheduler's part,
    which needs the engine, is added by the CLI). `queue` is None without a
    send queue (SQLite); workers count as seen when they beat within
    `workers_within` seconds."""
    subs = list_subscribers(conn)
    emails = {s.id: s.email for s in subs}
    by_status: dict[str, int] = {}
    for sub in subs:
        by_status[sub.status] = by_status.get(sub.status, 0) + 1
    return {
        "papers": count_papers(conn),
        "subscribers": dict(sorted(by_status.items())),
        "editions": dict(sorted(edition_store.status_counts(conn).items())),
        "sources": [_source(s) for s in all_states(conn)],
        "last_send": last_send(conn),
        "recent_editions": [
            _edition(e, emails) for e in edition_store.recent_editions(conn, RECENT_EDITIONS)
        ],
        "delivery": delivery_status(conn, now=now or datetime.now(UTC)),
        "queue": queue_summary(conn, QUEUE_TASK, workers_within=workers_within),
    }


def _source(state: dict) -> dict[str, Any]:
    report = state.get("last_report") or {}
    error = state.get("last_error")
    if error:
        error = error.removeprefix(f"{state['source']}: ")
    return {
        "source": state["source"],
        "last_success_at": state.get("last_success_at"),
        "last_attempt_at": state.get("last_attempt_at"),
        "last_report": {k: v for k, v in report.items() if k != "not_modified"},
        "last_error": error,
    }


def _edition(edition: dict, emails: dict[int, str]) -> dict[str, Any]:
    sid = edition["subscriber_id"]
    return {
        "subscriber": who(sid, emails.get(sid)),
        "subscriber_id": sid,
        "period": edition["period"],
        "status": edition["status"],
        "claimed_at": edition["claimed_at"],
        "sent_at": edition.get("sent_at"),
        "papers": edition.get("paper_count", 0),
        "error": edition.get("error"),
    }
