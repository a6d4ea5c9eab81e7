"""Sign-up and double opt-in over HTTP: validation, honeypot, throttles, the
same answer for known addresses, confirm by POST only, consent records."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from digest.db.schema import consents
from digest.store.subscribers import get_subscriber, is_suppressed, suppress
from tests.web_helpers import link_in, make_web, signup_form


@pytest.fixture
def web(database_url, tmp_path):
    web = make_web(database_url, tmp_path)
    yield web
    web.close()


def subscriber(web, email="ada@example.org"):
    with web.engine.begin() as conn:
        return get_subscriber(conn, email)


def test_it_signs_up_confirms_and_welcomes(web):
    response = web.client.post(
        "/subscribe", data=signup_form(), headers={"user-agent": "TestBrowser/1.0"}
    )
    assert response.status_code == 200 and "Check your inbox" in response.text
    pending = subscriber(web)
    assert pending.status == "pending" and pending.name == "Ada"
    assert [t.slug for t in pending.prefs.topics] == ["computer-vision", "nlp"]
    assert pending.prefs.timezone == "Europe/Berlin" and pending.prefs.hour == 7
    [confirmation] = web.emails()
    assert confirmation["To"] == "ada@example.org"
    assert "List-Unsubscribe" not in confirmation
    assert (
        "Ada" not in confirmation.get_body(("plain",)).get_content()
    )  # nothing typed but the address
    confirm = link_in(confirmation, "/confirm/")
    page = web.client.get(confirm)
    assert page.status_code == 200 and "<button" in page.text
    assert subscriber(web).status == "pending"  # a GET changes nothing
    done = web.client.post(confirm)
    assert done.status_code == 200 and "You are subscribed" in done.text
    assert subscriber(web).status == "active"
    welcome = web.emails()[-1]
    assert "Welcome" in welcome["Subject"]
    text = welcome.get_body(("plain",)).get_content()
    assert "/preferences/" in text and "Computer Vision" in text and "Europe/Berlin" in text
    with web.engine.begin() as conn:
        rows = conn.execute(select(consents).order_by(consents.c.id)).all()
    assert [r.action for r in rows] == ["signup", "confirm"]
    assert rows[0].user_agent == "TestBrowser/1.0" and rows[0].ip and rows[0].form_version


def test_an_invalid_address_is_refused_with_the_form_again(web):
    response = web.client.post("/subscribe", data=signup_form("not-an-address"))
    assert response.status_code == 400
    assert "invalid email address" in response.text and 'name="email"' in response.text
    assert subscriber(web, "not-an-address") is None and web.emails() == []


def test_no_topic_is_refused(web):
    response = web.client.post("/subscribe", data=signup_form(topics=[]))
    assert response.status_code == 400 and "pick at least one topic" in response.text


def test_the_honeypot_answers_alike_and_does_nothing(web):
    response = web.client.post("/subscribe", data=signup_form(website="http://spam.example"))
    assert response.status_code == 200 and "Check your inbox" in response.text
    assert subscriber(web) is None and web.emails() == []


def test_fifty_signups_in_a_minute_send_at_most_one_email(web):
    for _ in range(50):
        response = web.client.post("/subscribe", data=signup_form())
        assert response.status_code == 200
        web.clock.advance(seconds=1)
    assert len(web.emails()) == 1


def test_confirmations_are_throttled_per_hour_and_per_day(web):
    sent = []
    for _ in range(8):
        web.client.post("/subscribe", data=signup_form())
        sent.append(len(web.emails()))
        web.clock.advance(minutes=61)
    assert sent == [1, 2, 3, 3, 3, 3, 3, 3]  # at most three a day
    web.clock.advance(hours=24)
    web.client.post("/subscribe", data=signup_form())
    assert len(web.emails()) == 4


def test_an_active_subscriber_signing_up_again_is_not_disturbed(web):
    web.client.post("/subscribe", data=signup_form())
    web.client.post(link_in(web.emails()[0], "/confirm/"))
    before = subscriber(web)
    emails = len(web.emails())
    web.clock.advance(days=2)
    again = web.client.post(
        "/subscribe", data=signup_form(topics=["robotics"], name="Mallory", hour="3")
    )
    first = web.client.post("/subscribe", data=signup_form("new@example.org"))
    assert again.status_code == first.status_code == 200
    assert again.text.replace("ada@example.org", "X") == first.text.replace("new@example.org", "X")
    after = subscriber(web)
    assert after == before  # status, settings, name: nothing changed
    assert len(web.emails()) == emails + 1  # only new@ got a confirmation


def test_a_suppressed_address_comes_back_only_through_confirmation(web):
    with web.engine.begin() as conn:
        suppress(conn, "ada@example.org", reason="bounce", now=web.clock())
    web.client.post("/subscribe", data=signup_form())
    assert subscriber(web).status == "pending"
    web.client.post(link_in(web.emails()[0], "/confirm/"))
    assert subscriber(web).status == "active"
    with web.engine.begin() as conn:
        assert not is_suppressed(conn, "ada@example.org")


def test_form_posts_are_rate_limited_per_ip(database_url, tmp_path):
    web = make_web(database_url, tmp_path, form_rate=(3, 60.0))
    try:
        codes = [
            web.client.post("/subscribe", data=signup_form(f"p{i}@example.org")).status_code
            for i in range(5)
        ]
    finally:
        web.close()
    assert codes == [200, 200, 200, 429, 429]
