"""`digest preview`: exactly what `send` would produce, recording nothing.

For a subscriber (`--email`), the period is chosen by the same rule `send`
uses (`editions.due_period`): the period `send` would send now (after a missed
day, that missed period), or with `force_hour` the one `send --now` would.
When nothing is due yet, the preview shows the period `send` will send next,
from the papers known now, and says when it becomes due; when the current
period was already sent, it says so. `on_date` names a period: one already
sent is shown as it was sent.

For topics (`--topic`), a new subscriber with default settings; with
`on_date`, as of the end of that day (UTC): only papers that had reached us by
then, and the first-edition window counted back from then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection

from digest.delivery import render_batch
from digest.digests import Message
from digest.editions import (
    Planned,
    Planner,
    digest_from_record,
    due_period,
    history,
)
from digest.periods import current_period, delivery_moment, local_today, period_for
from digest.preferences import Preferences, TopicChoice
from digest.render import CompileCache, SiteInfo
from digest.selection import load_pool
from digest.store import editions as edition_store
from digest.store.papers import get_papers
from digest.store.subscribers import Subscriber, get_subscriber

PREVIEW_ADDRESS = "preview@example.org"
LOOKAHEAD = 4  # periods searched for the next one `send` will send


class PreviewError(Exception):
    pass


@dataclass
class Preview:
    planned: Planned
    note: str | None = None  # said to the user before the preview (stderr)
    already_sent: bool = False


def plan_for_email(
    conn: Connection,
    email: str,
    *,
    now: datetime,
    on_date: date | None,
    retention_days: int,
    force_hour: bool = False,
) -> Preview:
    """The edition `send` would send this subscriber (see the module doc)."""
    subscriber = get_subscriber(conn, email)
    if subscriber is None:
        raise PreviewError(f"--email: no subscriber {email}")
    note = None
    if on_date is not None:
        period = period_for(subscriber.prefs, on_date)
        edition = edition_store.get_edition(conn, subscriber.id, period)
        if edition is not None:
            return _as_sent(conn, subscriber, period, edition)
    else:
        period = due_period(conn, subscriber, now, force_hour=force_hour)
        if period is None:
            period, note = _next_period(conn, subscriber, now)
    planner = Planner.load(conn, now=now, retention_days=retention_days)
    previous, sent = history(conn, subscriber.id, now=now)
    return Preview(planner.plan(subscriber, period, previous_claim=previous, sent=sent), note)


def _next_period(conn: Connection, subscriber: Subscriber, now: datetime) -> tuple[str, str]:
    """The period `send` will send next (nothing is due now), and a note saying why."""
    prefs = subscriber.prefs
    current = current_period(prefs, now)
    step = timedelta(days=7 if prefs.frequency == "weekly" else 1)
    day = local_today(prefs, now)
    upcoming, moment = current, None
    for n in range(LOOKAHEAD):
        period = period_for(prefs, day + n * step)
        at = delivery_moment(prefs, period)
        if at > now and due_period(conn, subscriber, at) == period:
            upcoming, moment = period, at
            break
    when = f"at {moment:%Y-%m-%d %H:%M} UTC" if moment else "later"
    sent = edition_store.get_edition(conn, subscriber.id, current)
    if sent is not None:
        note = (
            f"The {current} edition was already {_state(sent)}: `send` sends nothing until "
            f"the {upcoming} edition, due {when}. Below: that edition from the papers known "
            f"now (--date {local_today(prefs, now)} shows the one already sent)."
        )
    else:
        note = (
            f"Nothing is due yet: `send` sends the {upcoming} edition {when}. Below: that "
            "edition from the papers known now (--now previews what `send --now` would send)."
        )
    return upcoming, note


def _state(edition: dict) -> str:
    when = edition.get("sent_at") or edition["claimed_at"]
    return f"{edition['status']} ({when:%Y-%m-%d %H:%M} UTC, {edition['paper_count']} papers)"


def _as_sent(conn: Connection, subscriber: Subscriber, period: str, edition: dict) -> Preview:
    """The sent edition rebuilt from its record of sections, with the papers'
    current records (a new version's title shows as it reads now)."""
    if edition["status"] in ("failed", "empty") or edition["sections"] is None:
        raise PreviewError(f"the {period} edition was {edition['status']}; nothing was sent")
    keys = [key for section in edition["sections"] for key, _ in section["entries"]]
    prefs = subscriber.prefs
    digest = digest_from_record(
        edition["sections"],
        get_papers(conn, keys),
        period=period,
        frequency=prefs.frequency,
        fmt=prefs.format,
    )
    planned = Planned(subscriber, period, digest, edition_id=edition["id"])
    note = f"The {period} edition as it was {_state(edition)}."
    return Preview(planned, note, already_sent=True)


def plan_for_topics(
    conn: Connection,
    slugs: list[str],
    *,
    now: datetime,
    retention_days: int,
    on_date: date | None = None,
) -> Planned:
    """What a new subscriber to these topics would get now, or would have got
    on `on_date` (as of the end of that day, UTC)."""
    prefs = Preferences(topics=[TopicChoice(slug) for slug in slugs])
    if on_date is not None:
        now = min(now, datetime.combine(on_date + timedelta(days=1), time(0), UTC))
        now -= timedelta(microseconds=1)
    subscriber = Subscriber(0, PREVIEW_ADDRESS, "active", prefs, created_at=now)
    pool = load_pool(conn, now=now, retention_days=retention_days)
    # Only what had reached us by then: a later fetch must not change the past.
    pool = [p for p in pool if p.first_seen_at <= now]
    planner = Planner(pool, now)
    period = current_period(prefs, now)
    return planner.plan(subscriber, period, previous_claim=None, sent=set())


def preview_message(planned: Planned, site: SiteInfo, secret: str) -> Message:
    return render_batch([planned], CompileCache(site), secret)[0]
