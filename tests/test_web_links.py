"""Pages behind the links in emails: bad tokens, GETs that change nothing,
RFC 8058 one-click, preferences with CSRF, export, erasure, the edition view."""

from __future__ import annotations

import json
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from digest.preferences import Preferences, TopicChoice
from digest.send import SendOptions, run_send
from digest.store.subscribers import add_subscriber, email_hash, get_subscriber, is_suppressed
from digest.tokens import make_token
from tests.pipeline_helpers import DAY1, store, vision_paper
from tests.web_helpers import SECRET, link_in, make_web, signup_form


@pytest.fixture
def web(database_url, tmp_path):
    web = make_web(database_url, tmp_path)
    yield web
    web.close()


def add(web, status="active", email="ada@example.org") -> int:
    prefs = Preferences(topics=[TopicChoice("computer-vision")])
    with web.engine.begin() as conn:
        return add_subscriber(conn, email, prefs, status=status, now=web.clock())


def status_of(web, email="ada@example.org") -> str | None:
    with web.engine.begin() as conn:
        found = get_subscriber(conn, email)
    return found.status if found else None


def token(purpose: str, sid: int, email="ada@example.org") -> str:
    return make_token(SECRET, purpose, sid, email)


def expired_confirm_token(sid: int, email="ada@example.org") -> str:
    class EightDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 8 * 86400

    serializer = URLSafeTimedSerializer(SECRET, salt="digest.confirm", signer=EightDaysAgo)
    return serializer.dumps([sid, email_hash(email)[:16]])


@pytest.mark.parametrize("purpose", ["confirm", "unsubscribe", "preferences"])
def test_tampered_tokens_get_a_friendly_400(web, purpose):
    sid = add(web, status="pending")
    good = token(purpose, sid)
    for bad in (good[:-2] + ("AA" if not good.endswith("AA") else "BB"), "nonsense", good + "x"):
        for method in ("get", "post"):
            response = getattr(web.client, method)(f"/{purpose}/{bad}")
            assert response.status_code == 400, (method, bad)
            assert "Link not valid" in response.text and "Traceback" not in response.text
    assert status_of(web) == "pending"


def test_a_token_for_another_purpose_is_refused(web):
    sid = add(web, status="pending")
    assert web.client.post(f"/confirm/{token('unsubscribe', sid)}").status_code == 400
    assert web.client.post(f"/unsubscribe/{token('preferences', sid)}").status_code == 400
    assert status_of(web) == "pending"


def test_an_expired_confirmation_link_gets_a_friendly_400(web):
    sid = add(web, status="pending")
    for method in ("get", "post"):
        response = getattr(web.client, method)(f"/confirm/{expired_confirm_token(sid)}")
        assert response.status_code == 400 and "expired" in response.text
    assert status_of(web) == "pending"


def test_gets_on_confirm_and_unsubscribe_change_nothing(web):
    pending = add(web, status="pending")
    active = add(web, email="grace@example.org")
    for _ in range(3):  # a mail scanner opening every link, repeatedly
        assert web.client.get(f"/confirm/{token('confirm', pending)}").status_code == 200
        grace = token("unsubscribe", active, "grace@example.org")
        assert web.client.get(f"/unsubscribe/{grace}").status_code == 200
        assert web.client.head(f"/unsubscribe/{grace}").status_code in (200, 405)
    assert status_of(web) == "pending" and status_of(web, "grace@example.org") == "active"
    assert web.emails() == []


def test_one_click_unsubscribe_needs_no_cookie_and_answers_200(web):
    sid = add(web)
    web.client.cookies.clear()
    response = web.client.post(
        f"/unsubscribe/{token('unsubscribe', sid)}",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200 and "location" not in response.headers
    assert "You are unsubscribed" in response.text and "Resubscribe" in response.text
    assert status_of(web) == "unsubscribed"
    again = web.client.post(f"/unsubscribe/{token('unsubscribe', sid)}")
    assert again.status_code == 200 and status_of(web) == "unsubscribed"


def test_resubscribing_needs_a_new_confirmation(web):
    sid = add(web)
    web.client.post(f"/unsubscribe/{token('unsubscribe', sid)}")
    response = web.client.post(f"/unsubscribe/{token('unsubscribe', sid)}/resubscribe")
    assert response.status_code == 200 and "Check your inbox" in response.text
    assert status_of(web) == "pending"
    web.client.post(link_in(web.emails()[0], "/confirm/"))
    assert status_of(web) == "active"


def test_an_unsubscribe_link_of_an_erased_subscriber_still_answers_200(web):
    sid = add(web)
    link = f"/unsubscribe/{token('unsubscribe', sid)}"
    with web.engine.begin() as conn:
        from digest.store.subscribers import remove_subscriber

        remove_subscriber(conn, "ada@example.org", now=web.clock())
    assert web.client.post(link).status_code == 200


def preferences_form(page_text: str, **changes) -> dict:
    import re

    csrf = re.search(r'name="csrf" value="([^"]+)"', page_text).group(1)
    form = {
        "csrf": csrf,
        "name": "Ada",
        "topics": ["computer-vision", "robotics"],
        "max_computer-vision": "5",
        "min_computer-vision": "10",
        "max_robotics": "",
        "min_robotics": "",
        "keywords": "diffusion; scaling laws",
        "categories": "cs.RO",
        "authors": "Alan Turing",
        "mute": "survey",
        "frequency": "weekly",
        "weekday": "fri",
        "hour": "9",
        "timezone": "Asia/Tokyo",
        "max_papers": "12",
        "min_upvotes": "0",
        "format": "text",
        "cross_lists": "true",
    }
    form.update(changes)
    return form


def test_preferences_save_every_setting_behind_csrf(web):
    sid = add(web)
    url = f"/preferences/{token('preferences', sid)}"
    page = web.client.get(url)
    assert page.status_code == 200 and "Preview my next digest" in page.text
    saved = web.client.post(url, data=preferences_form(page.text))
    assert saved.status_code == 303
    assert "saved" in web.client.get(saved.headers["location"]).text
    with web.engine.begin() as conn:
        sub = get_subscriber(conn, "ada@example.org")
    prefs = sub.prefs
    assert [t.spec() for t in prefs.topics] == ["computer-vision:5:10", "robotics"]
    assert prefs.keywords == ["diffusion", "scaling laws"] and prefs.categories == ["cs.RO"]
    assert prefs.authors == ["Alan Turing"] and prefs.mute == ["survey"]
    assert (prefs.frequency, prefs.weekday, prefs.hour) == ("weekly", 4, 9)
    assert prefs.timezone == "Asia/Tokyo" and prefs.max_papers == 12 and prefs.format == "text"
    assert sub.name == "Ada"


def test_preferences_refuse_a_post_without_the_csrf_cookie_or_field(web):
    sid = add(web)
    url = f"/preferences/{token('preferences', sid)}"
    form = preferences_form(web.client.get(url).text, hour="3")
    web.client.cookies.clear()
    assert web.client.post(url, data=form).status_code == 403
    web.client.get(url)
    assert web.client.post(url, data={**form, "csrf": "forged"}).status_code == 403
    with web.engine.begin() as conn:
        assert get_subscriber(conn, "ada@example.org").prefs.hour == 7


def test_bad_preferences_are_refused_with_the_reason(web):
    sid = add(web)
    url = f"/preferences/{token('preferences', sid)}"
    form = preferences_form(web.client.get(url).text, timezone="Mars/Olympus")
    response = web.client.post(url, data=form)
    assert response.status_code == 400 and "unknown timezone" in response.text


def test_export_holds_everything_and_erase_leaves_only_a_hash(web):
    web.client.post("/subscribe", data=signup_form())
    web.client.post(link_in(web.emails()[0], "/confirm/"))
    sid = get_sid(web)
    url = f"/preferences/{token('preferences', sid)}"
    exported = web.client.get(url + "/export")
    assert exported.headers["content-disposition"].startswith("attachment")
    data = json.loads(exported.text)
    assert data["email"] == "ada@example.org" and data["status"] == "active"
    assert [c["action"] for c in data["consents"]] == ["signup", "confirm"]
    assert data["preferences"]["topics"] == ["computer-vision", "nlp"]
    page = web.client.get(url)
    refused = web.client.post(url + "/erase", data=preferences_form(page.text))
    assert refused.status_code == 400 and status_of(web) == "active"
    erased = web.client.post(
        url + "/erase", data={**preferences_form(page.text), "confirm_erase": "yes"}
    )
    assert erased.status_code == 200 and status_of(web) is None
    with web.engine.begin() as conn:
        assert is_suppressed(conn, "ada@example.org")
    assert web.client.get(url).status_code == 400


def get_sid(web, email="ada@example.org") -> int:
    with web.engine.begin() as conn:
        return get_subscriber(conn, email).id


def test_the_preview_renders_the_next_digest_and_records_nothing(web):
    store(web.engine, [vision_paper(n, DAY1) for n in range(3)], DAY1)
    web.clock.now = DAY1.replace(hour=12)
    sid = add(web)
    url = f"/preferences/{token('preferences', sid)}/preview"
    page = web.client.get(url)
    assert page.status_code == 200 and "<iframe" in page.text
    email = web.client.get(url + "/email")
    assert email.status_code == 200 and "Diffusion Priors" in email.text
    assert "frame-ancestors 'self'" in email.headers["content-security-policy"]
    from digest.store import editions as edition_store

    with web.engine.begin() as conn:
        assert edition_store.claimed_periods(conn, sid) == []


def test_the_edition_link_shows_the_edition_as_sent(web):
    store(web.engine, [vision_paper(n, DAY1) for n in range(3)], DAY1)
    add(web)
    mailer = web.runtime.mailer()
    run_send(
        web.engine,
        mailer,
        SendOptions(now=DAY1.replace(hour=12), force_hour=True),
        site=web.runtime.site,
        secret=SECRET,
    )
    [digest] = web.emails()
    view = link_in(digest, "/editions/")
    page = web.client.get(view)
    assert page.status_code == 200
    for n in range(3):
        assert f"https://arxiv.org/abs/2611.{14000 + n}" in page.text
    assert "/unsubscribe/" in page.text
    assert web.client.get(view[:-3] + "abc").status_code == 400
