"""Prometheus metrics from the database, in the text exposition format (0.0.4).

`metrics_text(conn)` reads the current state and `render(families)` formats it;
the web app serves the result at `/metrics` (content type `CONTENT_TYPE`).
Everything is a gauge read from the database at scrape time, so any number of
processes can serve it and all of them agree. What it tells:

- `digest_editions{status}`: editions by state (every state, zeros included,
  so an alert on `unknown > 0` or `failed` growing has a series to watch);
- `digest_subscribers{status}`, `digest_papers`;
- per source: `digest_source_up` (1 when the last fetch succeeded), the last
  attempt and last success as Unix timestamps, and the last fetch's counts
  (`digest_source_last_fetch_items{outcome="fetched|new|updated|skipped"}`);
- `digest_last_send_timestamp_seconds`: when the latest edition went out
  (absent until one has), for "nothing sent for 26 hours" alerts;
- `digest_send_rate_messages_per_second`: messages sent in the last
  `SEND_RATE_WINDOW` seconds, divided by the window (a rate gauge, so it needs
  no counter kept in process memory);
- the send queue (PostgreSQL with procrastinate's tables only):
  `digest_queue_jobs{status="waiting|running|failed"}` (queue depth) and
  `digest_queue_workers` (workers whose heartbeat is recent).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from digest import __version__
from digest.send_queue import TASK as QUEUE_TASK
from digest.store.editions import status_counts
from digest.store.fetch_state import all_states
from digest.store.queue_jobs import queue_summary
from digest.store.stats import last_sent_at, paper_count, sent_since, subscriber_counts

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
EDITION_STATES = ("pending", "queued", "sending", "sent", "failed", "unknown", "empty")
WORKERS_WITHIN = 30.0  # seconds: a worker beats every 10 s by default
SUBSCRIBER_STATES = ("pending", "active", "unsubscribed", "suppressed")
FETCH_OUTCOMES = ("fetched", "new", "updated", "skipped")
SEND_RATE_WINDOW = 300  # seconds


@dataclass
class Family:
    """One metric: its name, help line, type and samples (labels, value)."""

    name: str
    help: str
    type: str = "gauge"
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> Family:
        self.samples.append((labels, value))
        return self


def metrics_text(
    conn: Connection, now: datetime | None = None, *, workers_within: float = WORKERS_WITHIN
) -> str:
    """The exposition text of the database's current state at `now` (default:
    the current time). A worker counts as up when it beat within
    `workers_within` seconds (the configured `[queue] stalled_after`)."""
    return render(read_families(conn, now, workers_within=workers_within))


def read_families(
    conn: Connection, now: datetime | None = None, *, workers_within: float = WORKERS_WITHIN
) -> list[Family]:
    now = now or datetime.now(UTC)
    families = [
        Family("digest_build_info", "The running version.").add(1, version=__version__),
        _by_state("digest_editions", "Editions by state.", status_counts(conn), EDITION_STATES),
        _by_state(
            "digest_subscribers",
            "Subscribers by status.",
            subscriber_counts(conn),
            SUBSCRIBER_STATES,
        ),
        Family("digest_papers", "Papers stored.").add(paper_count(conn)),
        *_source_families(all_states(conn)),
    ]
    last = Family(
        "digest_last_send_timestamp_seconds", "When the latest edition was sent (Unix time)."
    )
    sent = last_sent_at(conn)
    if sent is not None:
        last.add(sent.timestamp())
    families.append(last)
    recent = sent_since(conn, now - timedelta(seconds=SEND_RATE_WINDOW))
    families.append(
        Family(
            "digest_send_rate_messages_per_second",
            f"Messages sent in the last {SEND_RATE_WINDOW} seconds, per second.",
        ).add(recent / SEND_RATE_WINDOW)
    )
    families += _queue_families(queue_summary(conn, QUEUE_TASK, workers_within=workers_within))
    return families


def _queue_families(summary: dict | None) -> list[Family]:
    """The send queue (PostgreSQL): absent without one, so "no workers" alerts
    only fire where workers are expected."""
    if summary is None:
        return []
    jobs = Family("digest_queue_jobs", "Send-queue jobs: waiting, running, failed for good.")
    for status in ("waiting", "running", "failed"):
        jobs.add(summary[status], status=status)
    workers = Family(
        "digest_queue_workers", "Send workers seen recently (heartbeat within the stall limit)."
    )
    return [jobs, workers.add(len(summary["workers"]))]


def _by_state(name: str, help: str, counts: dict[str, int], known: Iterable[str]) -> Family:
    family = Family(name, help)
    for state in sorted(set(known) | set(counts)):
        family.add(counts.get(state, 0), status=state)
    return family


def _source_families(states: list[dict]) -> list[Family]:
    up = Family("digest_source_up", "1 when the source's last fetch succeeded, else 0.")
    attempt = Family(
        "digest_source_last_attempt_timestamp_seconds", "The source's last fetch (Unix time)."
    )
    success = Family(
        "digest_source_last_success_timestamp_seconds",
        "The source's last successful fetch (Unix time).",
    )
    items = Family(
        "digest_source_last_fetch_items", "Items of the source's last fetch, by outcome."
    )
    for state in states:
        source = state["source"]
        up.add(0 if state.get("last_error") else 1, source=source)
        if state.get("last_attempt_at"):
            attempt.add(state["last_attempt_at"].timestamp(), source=source)
        if state.get("last_success_at"):
            success.add(state["last_success_at"].timestamp(), source=source)
        report = state.get("last_report") or {}
        for outcome in FETCH_OUTCOMES:
            if isinstance(report.get(outcome), int | float):
                items.add(report[outcome], source=source, outcome=outcome)
    return [up, attempt, success, items]


def render(families: Iterable[Family]) -> str:
    """Format families as Prometheus text exposition (a pure function)."""
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for labels, value in family.samples:
            lines.append(f"{family.name}{_labels(labels)} {_number(value)}")
    return "\n".join(lines) + "\n"


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape_label(str(value))}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if float(value).is_integer() else repr(float(value))
