"""The public pages: home, topic archive and its RSS feed, the "more papers"
page, health, security headers and friendly errors."""

from __future__ import annotations

from datetime import timedelta

import feedparser
import pytest

from digest.web_links import papers_url
from tests.pipeline_helpers import DAY1, store, vision_paper
from tests.web_helpers import make_web

HOSTILE = '<script>alert("x")</script> & <b>bold</b> ]]> %%DIGEST_EMAIL%%'


@pytest.fixture
def web(database_url, tmp_path):
    web = make_web(database_url, tmp_path)
    web.clock.now = DAY1 + timedelta(hours=7)
    papers = [vision_paper(n, DAY1, upvotes=n * 10, comments=n) for n in range(4)]
    papers.append(vision_paper(9, DAY1, title=HOSTILE, abstract=HOSTILE + " segmentation"))
    store(web.engine, papers, DAY1)
    yield web
    web.close()


def test_the_home_page_lists_the_day_trending_first_under_the_banner(web):
    page = web.client.get("/")
    assert page.status_code == 200
    text = page.text
    assert "Get trending papers in your email inbox!" in text
    assert 'action="/subscribe"' in text and ">Subscribe</button>" in text
    # Ordered by upvotes: paper 3 (30) before 2 (20) before 1 (10).
    positions = [text.index(f"https://arxiv.org/abs/2611.{14000 + n}") for n in (3, 2, 1)]
    assert positions == sorted(positions)
    assert "▲ 30 upvotes" in text and "2 authors" in text
    assert "<script>alert" not in text and "&lt;script&gt;" in text


def test_the_home_page_filters_by_topic_and_day(web):
    assert "2611.14001" in web.client.get("/?topic=computer-vision").text
    assert "2611.14001" not in web.client.get("/?topic=quantum-computing").text
    assert "No papers for this day" in web.client.get("/?date=2026-11-01").text
    assert web.client.get("/?date=yesterday").status_code == 400
    assert web.client.get("/?topic=nope").status_code == 400


def test_the_subscribe_form_has_every_field_with_labels(web):
    page = web.client.get("/subscribe?email=ada%40example.org&topic=nlp").text
    for name in (
        "email",
        "name",
        "topics",
        "keywords",
        "frequency",
        "weekday",
        "hour",
        "timezone",
        "format",
        "website",
    ):
        assert f'name="{name}"' in page
    assert 'value="ada@example.org"' in page
    assert 'id="topic-nlp" type="checkbox" name="topics" value="nlp" checked' in page


def test_the_topic_page_lists_recent_papers_by_day(web):
    page = web.client.get("/topics/computer-vision")
    assert page.status_code == 200 and "Thursday, 19 November 2026" in page.text
    assert "2611.14002" in page.text and "/topics/computer-vision.rss" in page.text
    assert web.client.get("/topics/no-such-topic").status_code == 404


def test_the_rss_feed_validates_and_carries_no_unescaped_feed_text(web):
    response = web.client.get("/topics/computer-vision.rss")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/rss+xml")
    body = response.content
    feed = feedparser.parse(body)
    assert feed.bozo == 0 and feed.version == "rss20"
    assert len(feed.entries) == 5
    links = {entry.link for entry in feed.entries}
    assert "https://arxiv.org/abs/2611.14003" in links
    assert b"<script" not in body and b"<b>" not in body
    assert b"&lt;script&gt;" in body
    titles = [entry.title for entry in feed.entries]
    assert any("alert" in title for title in titles)
    assert web.client.get("/topics/nope.rss").status_code == 404


def test_the_more_papers_page_lists_exactly_the_linked_papers(web):
    url = papers_url("", ["2611.14002", "2611.14000", "9999.99999"])
    page = web.client.get(url)
    assert page.status_code == 200
    assert page.text.index("2611.14002") < page.text.index("2611.14000")
    assert "2611.14001" not in page.text


def test_security_headers_and_friendly_errors(web):
    page = web.client.get("/")
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-content-type-options"] == "nosniff"
    missing = web.client.get("/no/such/page")
    assert missing.status_code == 404 and "Page not found" in missing.text
    assert web.client.get("/healthz").json() == {"status": "ok"}
