"""The send loop: one function over a batch of claimed editions.

In-process runs and queued workers call the same `deliver_batch`. Each distinct
digest is compiled once (Jinja2 -> MJML -> HTML); personal links are filled in
per recipient. States move pending -> sending -> sent | failed | unknown; a
batch that certainly never reached the provider is released so the next run
sends it, and nothing is ever sent twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine

from digest.digests import Message, Recipient
from digest.editions import Planned
from digest.mail.base import Mailer, MailError, Outcome
from digest.render import CompileCache, SiteInfo, personalize
from digest.store import editions as edition_store
from digest.tokens import link_urls
from digest.web_links import view_url

log = logging.getLogger(__name__)


def recipient_for(planned: Planned, site: SiteInfo, secret: str) -> Recipient:
    sub = planned.subscriber
    unsubscribe, preferences = link_urls(site.base_url, secret, sub.id, sub.email)
    view = view_url(site.base_url, secret, sub.id, sub.email, planned.period)
    return Recipient(sub.id, sub.email, unsubscribe, preferences, sub.name or "", view)


def render_batch(batch: Sequence[Planned], cache: CompileCache, secret: str) -> list[Message]:
    """Messages for the batch, compiling each distinct digest once."""
    messages = []
    for planned in batch:
        compiled = cache.get(planned.digest)
        message = personalize(compiled, recipient_for(planned, cache.site, secret))
        message.edition_id = planned.edition_id
        message.period = planned.period
        messages.append(message)
    return messages


def deliver_batch(
    engine: Engine,
    mailer: Mailer,
    batch: Sequence[Planned],
    *,
    cache: CompileCache,
    secret: str,
    now: datetime,
) -> Counter:
    """Render and send claimed editions; record each outcome. Returns a Counter
    of final states (sent, failed, unknown, released)."""
    ids = [p.edition_id for p in batch]
    try:
        messages = render_batch(batch, cache, secret)
    except Exception:  # noqa: BLE001 - nothing was sent: release, report, go on
        log.exception("rendering a batch of %d editions failed; released", len(batch))
        with engine.begin() as conn:
            edition_store.release(conn, ids)
        return Counter(released=len(batch))
    by_edition = {p.edition_id: p for p in batch}
    counts: Counter = Counter()
    for call in mailer.calls(messages):
        planned = [by_edition[m.edition_id] for m in call]
        with engine.begin() as conn:
            edition_store.set_status(
                conn, [p.edition_id for p in planned], "sending", mailer=mailer.name
            )
        outcomes = send_call(mailer, call)
        record_outcomes(engine, planned, outcomes, now=now)
        counts.update(o.status for o in outcomes)
    return counts


def send_call(mailer: Mailer, call: Sequence[Message]) -> list[Outcome]:
    """One provider call; a failure of the whole call becomes one outcome each."""
    try:
        return mailer.send(call)
    except MailError as exc:
        return [_whole_batch_outcome(exc)] * len(call)
    except Exception as exc:
        # Unknown failure inside the mailer: the call may have gone out.
        log.exception("mailer %s failed", mailer.name)
        return [Outcome("unknown", error=f"{type(exc).__name__}: {exc}")] * len(call)


def _whole_batch_outcome(exc: MailError) -> Outcome:
    if exc.delivered:
        return Outcome("unknown", error=str(exc))
    if exc.permanent:
        return Outcome("failed", error=str(exc))
    return Outcome("released", error=str(exc))


def record_outcomes(
    engine: Engine, batch: Sequence[Planned], outcomes: Sequence[Outcome], *, now: datetime
) -> None:
    with engine.begin() as conn:
        for planned, outcome in zip(batch, outcomes, strict=True):
            eid = planned.edition_id
            sid = planned.subscriber.id
            if outcome.status == "sent":
                edition_store.set_status(
                    conn, [eid], "sent", sent_at=now, message_id=outcome.message_id
                )
                log.info("edition %s sent to subscriber %s", planned.period, sid)
            elif outcome.status == "failed":
                edition_store.mark_failed(conn, eid, outcome.error or "rejected")
                log.warning(
                    "edition %s for subscriber %s failed: %s", planned.period, sid, outcome.error
                )
            elif outcome.status == "released":
                edition_store.release(conn, [eid])
                log.warning(
                    "edition %s for subscriber %s not sent, released: %s",
                    planned.period,
                    sid,
                    outcome.error,
                )
            else:
                edition_store.set_status(conn, [eid], "unknown", error=outcome.error)
                log.warning(
                    "edition %s for subscriber %s in unknown state: %s",
                    planned.period,
                    sid,
                    outcome.error,
                )
