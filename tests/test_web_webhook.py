"""SendGrid's Event Webhook: signatures, replays, and the suppression rules."""

from __future__ import annotations

import json

import pytest

from digest.preferences import Preferences, TopicChoice
from digest.send import SendOptions, run_send
from digest.store import editions as edition_store
from digest.store.subscribers import add_subscriber, get_subscriber, is_suppressed
from tests.pipeline_helpers import DAY1, store, vision_paper
from tests.web_helpers import SECRET, make_signer, make_web, sign


@pytest.fixture
def web(database_url, tmp_path):
    web = make_web(database_url, tmp_path)
    with web.engine.begin() as conn:
        prefs = Preferences(topics=[TopicChoice("computer-vision")])
        add_subscriber(conn, "ada@example.org", prefs, status="active", now=DAY1)
    yield web
    web.close()


def post(web, events, *, timestamp=None, signature=None, body=None):
    body = body if body is not None else json.dumps(events).encode()
    timestamp = timestamp or str(int(web.clock().timestamp()))
    headers = {
        "X-Twilio-Email-Event-Webhook-Signature": signature or sign(web.signer, body, timestamp),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        "content-type": "application/json",
    }
    return web.client.post("/webhooks/sendgrid", content=body, headers=headers)


def event(kind: str, n: int, **extra) -> dict:
    return {
        "email": "ada@example.org",
        "event": kind,
        "sg_event_id": f"evt-{kind}-{n}",
        "timestamp": 1795000000 + n,
        **extra,
    }


def status(web) -> str:
    with web.engine.begin() as conn:
        return get_subscriber(conn, "ada@example.org").status


def digests_sent(web, now) -> int:
    before = len(web.emails())
    run_send(
        web.engine,
        web.runtime.mailer(),
        SendOptions(now=now, force_hour=True),
        site=web.runtime.site,
        secret=SECRET,
    )
    return len(web.emails()) - before


def test_a_forged_signature_is_refused_with_403(web):
    body = json.dumps([event("spamreport", 1)]).encode()
    ts = str(int(web.clock().timestamp()))
    good = sign(web.signer, body, ts)
    other = make_signer()[0]
    for headers in (
        {"signature": sign(other, body, ts)},  # another key
        {"signature": good, "body": body.replace(b"spamreport", b"delivered")},  # altered body
        {"signature": "bm90IGEgc2lnbmF0dXJl"},
        {"signature": "***"},
    ):
        response = post(web, None, timestamp=ts, body=headers.pop("body", body), **headers)
        assert response.status_code == 403
    assert web.client.post("/webhooks/sendgrid", content=body).status_code == 403  # unsigned
    assert status(web) == "active"


def test_a_stale_timestamp_is_refused(web):
    stale = str(int(web.clock().timestamp()) - 3600)
    assert post(web, [event("spamreport", 1)], timestamp=stale).status_code == 403
    assert status(web) == "active"


def test_a_replayed_event_is_processed_once(web):
    soft = event("deferred", 1)
    for _ in range(3):
        assert post(web, [soft, soft]).status_code == 200
    assert status(web) == "active"  # three deliveries of ONE deferral are one soft bounce
    response = post(web, [event("deferred", 2), event("deferred", 3)])
    assert response.json() == {"processed": 2} and status(web) == "suppressed"


def test_a_hard_bounce_suppresses_future_sends(web):
    store(web.engine, [vision_paper(n, DAY1) for n in range(2)], DAY1)
    assert digests_sent(web, DAY1.replace(hour=12)) == 1
    with web.engine.begin() as conn:
        edition = edition_store.recent_editions(conn, 1)[0]
    bounce = event("bounce", 1, type="bounce", delivery_id=str(edition["id"]))
    assert post(web, [bounce]).status_code == 200
    assert status(web) == "suppressed"
    with web.engine.begin() as conn:
        assert is_suppressed(conn, "ada@example.org")
        assert edition_store.recent_editions(conn, 1)[0]["delivery"] == "bounce"
    later = DAY1.replace(day=20, hour=12)
    store(web.engine, [vision_paper(n, later) for n in range(10, 12)], later)
    assert digests_sent(web, later) == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"event": "dropped", "reason": "Invalid"},
        {"event": "spamreport"},
        {"event": "bounce", "type": "bounce"},
    ],
)
def test_events_that_suppress_at_once(web, bad):
    assert post(web, [event("x", 1) | bad]).status_code == 200
    assert status(web) == "suppressed"


def test_soft_bounces_suppress_only_on_the_third_in_a_row(web):
    post(web, [event("deferred", 1), event("bounce", 2, type="blocked")])
    assert status(web) == "active"
    post(web, [event("delivered", 3)])  # a delivery breaks the row
    post(web, [event("deferred", 4), event("blocked", 5)])
    assert status(web) == "active"
    post(web, [event("deferred", 6)])
    assert status(web) == "suppressed"


def test_delivered_marks_the_edition_and_unsubscribe_events_unsubscribe(web):
    store(web.engine, [vision_paper(n, DAY1) for n in range(2)], DAY1)
    digests_sent(web, DAY1.replace(hour=12))
    with web.engine.begin() as conn:
        edition = edition_store.recent_editions(conn, 1)[0]
    post(web, [event("delivered", 1, delivery_id=str(edition["id"])), event("open", 2)])
    with web.engine.begin() as conn:
        assert edition_store.recent_editions(conn, 1)[0]["delivery"] == "delivered"
    post(web, [event("unsubscribe", 3)])
    assert status(web) == "unsubscribed"


def test_a_body_that_is_not_a_list_is_refused(web):
    assert post(web, None, body=b'{"event": "delivered"}').status_code == 400
