"""`digest preview`: exactly what `send` would produce, recording nothing."""

from __future__ import annotations

from datetime import date, datetime

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
from digest.periods import current_period, period_for_date
from digest.preferences import Preferences, TopicChoice
from digest.render import CompileCache, SiteInfo
from digest.store import editions as edition_store
from digest.store.papers import get_papers
from digest.store.subscribers import Subscriber, get_subscriber

PREVIEW_ADDRESS = "preview@example.org"


class PreviewError(Exception):
    pass


def plan_for_email(
    conn: Connection, email: str, *, now: datetime, on_date: date | None, retention_days: int
) -> Planned:
    """The subscriber's next edition from the current candidates; with `on_date`
    naming a period already sent, that edition's papers as it was sent."""
    subscriber = get_subscriber(conn, email)
    if subscriber is None:
        raise PreviewError(f"--email: no subscriber {email}")
    if on_date is not None:
        period = period_for_date(subscriber.prefs, on_date)
        edition = edition_store.get_edition(conn, subscriber.id, period)
        if edition is not None:
            return _as_sent(conn, subscriber, period, edition)
    else:
        period = due_period(conn, subscriber, now, force_hour=True)
        period = period or current_period(subscriber.prefs, now)
    planner = Planner.load(conn, now=now, retention_days=retention_days)
    previous, sent = history(conn, subscriber.id, now=now)
    return planner.plan(subscriber, period, previous_claim=previous, sent=sent)


def _as_sent(conn: Connection, subscriber: Subscriber, period: str, edition: dict) -> Planned:
    """The sent edition rebuilt from its record of sections, with the papers'
    current records (a new version's title shows as it reads now)."""
    if edition["status"] == "failed" or edition["sections"] is None:
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
    return Planned(subscriber, period, digest, edition_id=edition["id"])


def plan_for_topics(
    conn: Connection, slugs: list[str], *, now: datetime, retention_days: int
) -> Planned:
    """What a new subscriber to these topics would get now."""
    prefs = Preferences(topics=[TopicChoice(slug) for slug in slugs])
    subscriber = Subscriber(0, PREVIEW_ADDRESS, "active", prefs, created_at=now)
    planner = Planner.load(conn, now=now, retention_days=retention_days)
    period = current_period(prefs, now)
    return planner.plan(subscriber, period, previous_claim=None, sent=set())


def preview_message(planned: Planned, site: SiteInfo, secret: str) -> Message:
    return render_batch([planned], CompileCache(site), secret)[0]
