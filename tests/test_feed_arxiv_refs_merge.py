"""A generic-feed item that names an arXiv paper by its arXiv DOI or its Hugging
Face page merges with the arXiv record and is never sent again: through the
production fetch path (a feed served on loopback) and the send path."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

from sqlalchemy import select

from digest.config import SourceConfig
from digest.db.schema import papers
from digest.http import Fetcher
from digest.ingest import fetch_one
from tests.fakes.http_server import FakeHTTPServer, Reply
from tests.pipeline_helpers import (
    DAY1,
    VISION_TITLES,
    paper_keys_in,
    read_outbox,
    send,
    store,
    subscribe,
    vision_paper,
)

DAY2 = DAY1 + timedelta(days=1)
ABSTRACT = "We study image segmentation, object detection and visual recognition."


def lab_feed(links: list[tuple[str, str]]) -> bytes:
    """An RSS feed whose items carry these (title, link) pairs, dated DAY2."""
    items = "".join(
        f"<item><title>{title}</title><link>{link}</link>"
        f"<description>{ABSTRACT}</description>"
        f"<pubDate>{format_datetime(DAY2)}</pubDate></item>"
        for title, link in links
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Lab picks</title><link>https://lab.example.org/</link>{items}</channel></rss>"
    ).encode()


def test_a_paper_named_by_doi_or_hf_page_merges_and_is_not_sent_again(engine, tmp_path):
    outbox = tmp_path / "outbox"
    subscribe(engine)
    store(engine, [vision_paper(0, DAY1), vision_paper(1, DAY1)], DAY1)
    send(engine, outbox, DAY1 + timedelta(hours=8))
    assert paper_keys_in(read_outbox(outbox)[0]) == {"2611.14000", "2611.14001"}

    feed = lab_feed(
        [
            (VISION_TITLES[0], "https://doi.org/10.48550/ARXIV.2611.14000V2"),
            (VISION_TITLES[1], "https://hf.co/papers/2611.14001"),
            # A paper arXiv has not listed to us yet, named by its Hugging Face page.
            ("Monocular Depth Estimation with Diffusion", "https://huggingface.co/papers/2611.14009"),
        ]
    )  # fmt: skip
    with FakeHTTPServer() as server, Fetcher("test-agent", retries=0) as fetcher:
        server.script("/lab", Reply(200, feed))
        source = SourceConfig(name="lab", kind="feed", url=server.url("/lab"))
        report = fetch_one(engine, fetcher, source, now=DAY2, listing_date=None, hf_token=None)
    assert report.error is None and (report.new, report.updated) == (1, 2)

    with engine.connect() as conn:
        rows = conn.execute(select(papers.c.key, papers.c.sources).order_by(papers.c.key)).all()
    assert [(key, sorted(sources)) for key, sources in rows] == [
        ("2611.14000", ["arxiv", "lab"]),
        ("2611.14001", ["arxiv", "lab"]),
        ("2611.14009", ["lab"]),
    ]
    send(engine, outbox, DAY2 + timedelta(hours=8))
    first, second = read_outbox(outbox)
    assert paper_keys_in(second) == {"2611.14009"}
