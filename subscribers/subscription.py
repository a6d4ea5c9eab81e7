"""Double opt-in and leaving: the state changes behind the pages, as functions
over the engine (DESIGN.md "Confirmation emails", "Suppression").

- A sign-up for a new, pending, unsubscribed or suppressed address makes it
  pending with the chosen settings and sends a confirmation email, at most one
  per address per hour and three per day. An active address is left alone.
  The caller answers the same page whatever happened.
- Confirming (a POST) makes a pending subscriber active, lifts a suppression
  and sends the welcome email. A GET never changes anything.
- Unsubscribing is immediate; coming back needs a new confirmation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from digest.digests import Message
from digest.mail.base import Mailer, MailError
from digest.preferences import Preferences
from digest.render import SiteInfo
from digest.store import subscriptions as store
from digest.store.subscribers import (
    Subscriber,
    add_subscriber,
    get_subscriber,
    lift_suppression,
    lock_subscriber,
    update_subscriber,
)
from digest.tokens import BadToken, matches, read_token
from subscribers.emails import confirmation_message, welcome_message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Visitor:
    """Where a form post came from, for the consent record."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass
class Mail:
    """What sending transactional mail needs."""

    mailer_factory: object  # () -> Mailer
    site: SiteInfo
    secret: str


def sign_up(
    engine: Engine,
    mail: Mail,
    email: str,
    prefs: Preferences,
    *,
    name: str | None,
    now: datetime,
    visitor: Visitor,
) -> str:
    """Record the sign-up of a normalised address; returns what happened
    ("sent", "throttled", "active", "raced") for logs and tests only."""
    try:
        with engine.begin() as conn:
            existing = get_subscriber(conn, email)
            if existing is not None and existing.status == "active":
                return "active"
            if existing is None:
                sid = add_subscriber(conn, email, prefs, status="pending", now=now, name=name)
            else:
                sid = existing.id
                lock_subscriber(conn, sid)
                update_subscriber(conn, sid, prefs, status="pending", now=now)
                store.set_name(conn, sid, name)
            store.record_consent(
                conn, sid, "signup", now=now, ip=visitor.ip, user_agent=visitor.user_agent
            )
            subscriber = store.get_by_id(conn, sid)
            if not _claim_confirmation(conn, email, now):
                return "throttled"
    except IntegrityError:
        return "raced"  # a concurrent sign-up for the same new address won
    _deliver(mail, confirmation_message(mail.site, mail.secret, subscriber))
    return "sent"


def request_confirmation(engine: Engine, mail: Mail, subscriber_id: int, *, now: datetime) -> bool:
    """Send a pending subscriber a confirmation email, within the throttle.
    False when it was not sent (not pending, or throttled)."""
    with engine.begin() as conn:
        lock_subscriber(conn, subscriber_id)
        subscriber = store.get_by_id(conn, subscriber_id)
        if subscriber is None or subscriber.status != "pending":
            return False
        if not _claim_confirmation(conn, subscriber.email, now):
            return False
    return _deliver(mail, confirmation_message(mail.site, mail.secret, subscriber))


def _claim_confirmation(conn, email: str, now: datetime) -> bool:
    """Check and record one confirmation email in the caller's transaction
    (which holds the subscriber's row, so two sign-ups cannot both pass)."""
    store.prune_confirmation_sends(conn, now=now)
    if not store.may_send_confirmation(conn, email, now=now):
        return False
    store.record_confirmation_sent(conn, email, now=now)
    return True


def subscriber_for(engine: Engine, secret: str, purpose: str, token: str) -> Subscriber:
    """The subscriber a token names; BadToken when it is invalid or the
    address changed (or was erased) since the token was made."""
    subscriber_id, hash_prefix = read_token(secret, purpose, token)
    with engine.begin() as conn:
        subscriber = store.get_by_id(conn, subscriber_id)
    if subscriber is None or not matches(subscriber.email, hash_prefix):
        raise BadToken("this link is no longer valid")
    return subscriber


def confirm(
    engine: Engine, mail: Mail, token: str, *, now: datetime, visitor: Visitor
) -> Subscriber:
    """Make the token's pending subscriber active and send the welcome email.
    Confirming twice is harmless; a subscriber who left since the link was
    sent must sign up again (BadToken)."""
    subscriber = subscriber_for(engine, mail.secret, "confirm", token)
    with engine.begin() as conn:
        lock_subscriber(conn, subscriber.id)
        subscriber = store.get_by_id(conn, subscriber.id)
        if subscriber is None:
            raise BadToken("this link is no longer valid")
        if subscriber.status == "active":
            return subscriber
        if subscriber.status != "pending":
            raise BadToken("this link is no longer valid; please sign up again")
        store.set_status(conn, subscriber.id, "active", now=now)
        lift_suppression(conn, subscriber.email)
        store.record_consent(
            conn, subscriber.id, "confirm", now=now, ip=visitor.ip, user_agent=visitor.user_agent
        )
        subscriber = store.get_by_id(conn, subscriber.id)
    _deliver(mail, welcome_message(mail.site, mail.secret, subscriber))
    log.info("subscriber %s confirmed", subscriber.id)
    return subscriber


def unsubscribe(engine: Engine, subscriber_id: int, *, now: datetime) -> None:
    """Stop all mail to the subscriber (no-op for one who already left)."""
    with engine.begin() as conn:
        lock_subscriber(conn, subscriber_id)
        subscriber = store.get_by_id(conn, subscriber_id)
        if subscriber is not None and subscriber.status in ("active", "pending"):
            store.set_status(conn, subscriber_id, "unsubscribed", now=now)
            log.info("subscriber %s unsubscribed", subscriber_id)


def resubscribe(engine: Engine, mail: Mail, subscriber_id: int, *, now: datetime) -> None:
    """Someone who left asks to come back: pending again, with a new confirmation."""
    with engine.begin() as conn:
        lock_subscriber(conn, subscriber_id)
        subscriber = store.get_by_id(conn, subscriber_id)
        if subscriber is None or subscriber.status == "active":
            return
        store.set_status(conn, subscriber_id, "pending", now=now)
    request_confirmation(engine, mail, subscriber_id, now=now)


def _deliver(mail: Mail, message: Message) -> bool:
    """Send one transactional email through the configured mailer."""
    mailer: Mailer = mail.mailer_factory()
    try:
        for call in mailer.calls([message]):
            outcomes = mailer.send(call)
            if outcomes and outcomes[0].status == "sent":
                return True
            log.warning(
                "%s email to subscriber %s not sent: %s",
                message.kind,
                message.subscriber_id,
                outcomes[0].error if outcomes else "no outcome",
            )
    except MailError as exc:
        log.warning(
            "%s email to subscriber %s failed: %s", message.kind, message.subscriber_id, exc
        )
    finally:
        mailer.close()
    return False
