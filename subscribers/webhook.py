"""SendGrid's Event Webhook: what happened to the mail we handed over.

A request counts only when its ECDSA signature over timestamp + raw body
verifies with `DIGEST_SENDGRID_WEBHOOK_KEY` (through the sendgrid package's
`EventWebhook`) and its timestamp is recent; otherwise 403. SendGrid sends
events more than once: each `sg_event_id` is processed once, in the same
transaction as its effect.

The rules (DESIGN.md "Suppression"): a hard bounce (`bounce` of type
`bounce`), a `dropped` for an invalid or bouncing address and a spam report
suppress the address at once; soft bounces (`deferred`, `blocked`, a `bounce`
of type `blocked`) suppress after 3 in a row; `delivered` resets the count.
An `unsubscribe` event unsubscribes. Digest events name their edition in the
custom argument `delivery_id`; that edition's `delivery` records the outcome.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime

from sendgrid.helpers.eventwebhook import EventWebhook
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from digest.store import provider_events as events_store
from digest.store import subscriptions as store
from digest.store.subscribers import get_subscriber, suppress

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_SKEW_SECONDS = 600
MAX_BODY = 5_000_000
SOFT_BOUNCE_LIMIT = 3
_DROPPED_SUPPRESS = ("invalid", "bounced address", "spam reporting address")


def verify(public_key: str, body: bytes, signature: str, timestamp: str, now: datetime) -> bool:
    """True when SendGrid signed exactly this body at a recent `timestamp`."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - sent) > MAX_SKEW_SECONDS:
        return False
    try:
        return EventWebhook(public_key).verify_signature(body.decode("utf-8"), signature, timestamp)
    except (ValueError, TypeError, UnicodeDecodeError):
        return False  # a malformed key, signature or body


async def sendgrid_events(request: Request) -> Response:
    web = request.app.state.web
    key = web.settings.sendgrid_webhook_key
    declared = request.headers.get("content-length", "0")
    if not key or not declared.isdigit() or int(declared) > MAX_BODY:
        return JSONResponse({"error": "not accepted"}, 403)
    body = await request.body()
    signature = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    if not key or len(body) > MAX_BODY:
        return JSONResponse({"error": "not accepted"}, 403)
    if not verify(key, body, signature, timestamp, web.clock()):
        log.warning("event webhook: bad or stale signature; ignored")
        return JSONResponse({"error": "bad signature"}, 403)
    try:
        events = json.loads(body)
    except ValueError:
        return JSONResponse({"error": "body is not JSON"}, 400)
    if not isinstance(events, list):
        return JSONResponse({"error": "expected a list of events"}, 400)
    done = await run_in_threadpool(process_events, web.engine, events, web.clock())
    return JSONResponse({"processed": done})


def process_events(engine, events: list, now: datetime) -> int:
    """Apply each event once; returns how many were new."""
    done = 0
    for event in events:
        if not isinstance(event, dict):
            continue
        with engine.begin() as conn:
            if events_store.first_time(conn, _event_id(event), now=now):
                apply_event(conn, event, now)
                done += 1
    with engine.begin() as conn:
        events_store.prune_events(conn, now=now)  # replays come within minutes, not months
    return done


def _event_id(event: dict) -> str:
    found = event.get("sg_event_id")
    if isinstance(found, str) and found:
        return found
    # Without an id, the event's content identifies it.
    return "sha256:" + hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()


def _outcome(event: dict) -> tuple[str, str | None]:
    """(what the edition records, what happens to the address: suppress | soft |
    reset | unsubscribe | None)."""
    kind = str(event.get("event", ""))
    bounce_type = str(event.get("type", "bounce"))
    reason = str(event.get("reason", "")).lower()
    if kind == "delivered":
        return "delivered", "reset"
    if kind == "bounce":
        return ("blocked", "soft") if bounce_type == "blocked" else ("bounce", "suppress")
    if kind in ("deferred", "blocked"):
        return kind, "soft"
    if kind == "dropped":
        hard = any(word in reason for word in _DROPPED_SUPPRESS)
        return "dropped", "suppress" if hard else None
    if kind == "spamreport":
        return "spamreport", "suppress"
    if kind in ("unsubscribe", "group_unsubscribe"):
        return kind[:16], "unsubscribe"
    return kind[:16], None


def apply_event(conn: Connection, event: dict, now: datetime) -> None:
    outcome, action = _outcome(event)
    subscriber_id = None
    delivery_id = event.get("delivery_id")
    recorded = ("delivered", "bounce", "dropped", "blocked", "deferred", "spamreport")
    if str(delivery_id or "").isdigit() and outcome in recorded:
        subscriber_id = events_store.set_delivery(conn, int(delivery_id), outcome)
    email = str(event.get("email") or "").strip()
    subscriber = store.get_by_id(conn, subscriber_id) if subscriber_id else None
    if subscriber is None and email:
        subscriber = get_subscriber(conn, email)
    if action is None:
        return
    if action == "reset":
        if subscriber is not None:
            events_store.reset_soft_bounces(conn, subscriber.id)
        return
    if action == "soft":
        if subscriber is None:
            return
        count = events_store.count_soft_bounce(conn, subscriber.id)
        if count < SOFT_BOUNCE_LIMIT:
            return
    if action == "unsubscribe":
        if subscriber is not None and subscriber.status in ("active", "pending"):
            store.set_status(conn, subscriber.id, "unsubscribed", now=now)
        return
    # Suppress: the subscriber stops, and the hashed address stays blocked until
    # a new double opt-in.
    address = subscriber.email if subscriber is not None else email
    if subscriber is not None and subscriber.status != "suppressed":
        store.set_status(conn, subscriber.id, "suppressed", now=now)
        log.info("subscriber %s suppressed after a %s event", subscriber.id, outcome)
    if address:
        suppress(conn, address, reason=outcome, now=now)
