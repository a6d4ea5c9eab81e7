"""Paper thumbnails: Hugging Face's `thumbnail` goes through the fetcher and the
store to the home page as a lazy `<img>`; hostile values are dropped; emails
never load them; revision 0006 adds the column under existing papers."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import inspect, text

from digest.db.engine import alembic_config, current_revision, head_revision
from digest.http import Fetcher
from digest.merge import merge
from digest.sources import FetchState, fetch_source
from digest.store.papers import get_papers
from tests.fakes.feeds import feed
from tests.fakes.http_server import Reply
from tests.pipeline_helpers import DAY1, read_outbox, send, store, subscribe, vision_paper
from tests.test_sources_hf import PATH, hf_source
from tests.web_helpers import make_web

LISTED = datetime(2024, 11, 18, 12, 0, tzinfo=UTC)
THUMB = "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2411.10440.png"
HOSTILE = [
    "javascript:alert(1)",
    'https://cdn.example.org/a.png" onerror="alert(1)',
    "https://cdn.example.org/a b.png",
    "http://cdn.example.org/plain-http.png",
    "data:image/png;base64,iVBORw0KGgo=",
    "https://cdn.example.org/" + "a" * 2100 + ".png",
    "//cdn.example.org/scheme-relative.png",
]


@pytest.fixture
def fetcher(waits):
    with Fetcher("test-agent", read_timeout=0.5, retries=1, sleep=waits.append) as f:
        yield f


@pytest.fixture
def web(database_url, tmp_path):
    web = make_web(database_url, tmp_path)
    web.clock.now = LISTED
    yield web
    web.close()


def fetch_into(web, server, fetcher, body: bytes) -> None:
    server.script(PATH, Reply(200, body))
    result = fetch_source(hf_source(server), fetcher, FetchState(), LISTED.date(), LISTED)
    store(web.engine, result.papers, LISTED)


def images(page: str) -> list[str]:
    return re.findall(r"<img\b[^>]*>", page)


def test_a_thumbnail_from_the_hf_fixture_reaches_the_home_page(web, server, fetcher):
    fetch_into(web, server, fetcher, feed("hf_daily_p0.json"))
    with web.engine.connect() as conn:
        assert get_papers(conn, ["2411.10440"])["2411.10440"].thumbnail_url == THUMB

    page = web.client.get("/?date=2024-11-18")

    assert page.status_code == 200
    (img,) = [tag for tag in images(page.text) if THUMB in tag]
    assert f'src="{THUMB}"' in img
    assert 'alt="Thumbnail of LLaVA-o1: Let Vision Language Models Reason Step-by-Step"' in img
    assert 'loading="lazy"' in img and 'width="160"' in img and 'height="90"' in img
    # The page's CSP lets https images load (and nothing else from elsewhere).
    csp = page.headers["content-security-policy"]
    assert "img-src 'self' https:" in csp and "default-src 'self'" in csp
    # Only the fixture item with a thumbnail gets an image.
    assert len(images(page.text)) == 1


def test_hostile_thumbnails_in_the_feed_are_dropped(web, server, fetcher):
    items = json.loads(feed("hf_daily_p0.json"))[:1]
    body = []
    for n, value in enumerate(HOSTILE):
        item = json.loads(json.dumps(items[0]))
        item["paper"]["id"] = f"2411.{20000 + n}"
        item["thumbnail"] = value
        body.append(item)

    fetch_into(web, server, fetcher, json.dumps(body).encode())

    with web.engine.connect() as conn:
        stored = get_papers(conn, [item["paper"]["id"] for item in body])
    assert len(stored) == len(HOSTILE)
    assert {paper.thumbnail_url for paper in stored.values()} == {None}
    page = web.client.get("/?date=2024-11-18").text
    assert "2411.20000" in page
    assert images(page) == [] and "javascript:" not in page and "onerror" not in page


def test_a_later_thumbnail_replaces_and_a_missing_one_keeps_the_stored(engine):
    first = vision_paper(1, DAY1, thumbnail_url="https://cdn.example.org/1.png")
    merged, _ = merge(None, first, DAY1)
    later = vision_paper(1, DAY1, thumbnail_url="https://cdn.example.org/2.png")
    merged, changed = merge(merged, later, DAY1 + timedelta(hours=1))
    assert changed and merged.thumbnail_url == "https://cdn.example.org/2.png"
    merged, changed = merge(merged, vision_paper(1, DAY1), DAY1 + timedelta(hours=2))
    assert not changed and merged.thumbnail_url == "https://cdn.example.org/2.png"
    # Through the store on both databases.
    store(engine, [first], DAY1)
    store(engine, [later], DAY1 + timedelta(hours=1))
    store(engine, [vision_paper(1, DAY1)], DAY1 + timedelta(hours=2))
    with engine.connect() as conn:
        stored = get_papers(conn, [first.key])[first.key]
    assert stored.thumbnail_url == "https://cdn.example.org/2.png"


def test_digests_never_carry_the_thumbnail(engine, tmp_path):
    thumb = "https://cdn.example.org/thumb-2611.png"
    subscribe(engine, "ada@example.org")
    store(engine, [vision_paper(n, DAY1, thumbnail_url=thumb) for n in range(3)], DAY1)

    assert send(engine, tmp_path / "outbox", DAY1 + timedelta(hours=8)).counts["sent"] == 1

    (message,) = read_outbox(tmp_path / "outbox")
    assert "2611.14001" in message.as_string()
    for part in message.walk():
        if not part.is_multipart():
            body = part.get_content()
            assert thumb not in body and "<img" not in body.lower()


def test_0006_adds_the_column_under_existing_papers_upward_from_0001(engine):
    config = alembic_config(engine)
    command.downgrade(config, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO papers (key, arxiv_id, title, abstract, authors, categories,"
                " first_seen_at, changed_at, available_at, upvotes, ai_keywords, sources)"
                " VALUES ('2611.14001', '2611.14001', 'Kept', 'Abstract', '[]', '[]',"
                " :t, :t, :t, 5, '[]', '[\"arxiv\"]')"
            ),
            {"t": DAY1.replace(tzinfo=None)},
        )
    command.upgrade(config, "head")
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        old = get_papers(conn, ["2611.14001"])["2611.14001"]
    assert (old.title, old.upvotes, old.thumbnail_url) == ("Kept", 5, None)

    store(engine, [vision_paper(1, DAY1, thumbnail_url=THUMB)], DAY1 + timedelta(hours=1))

    with engine.connect() as conn:
        assert get_papers(conn, ["2611.14001"])["2611.14001"].thumbnail_url == THUMB
    command.downgrade(config, "0005")
    with engine.connect() as conn:
        assert "thumbnail_url" not in {c["name"] for c in inspect(conn).get_columns("papers")}
        assert conn.execute(text("SELECT key FROM papers")).scalars().all() == ["2611.14001"]
    command.upgrade(config, "head")
