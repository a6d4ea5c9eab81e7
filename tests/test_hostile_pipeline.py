"""Attacker-controlled feed text, from the feed bytes to the outbox file."""

from datetime import UTC, datetime
from pathlib import Path

from digest.preferences import TopicChoice
from digest.sources import arxiv_rss
from tests.pipeline_helpers import read_outbox, send, store, subscribe

FEED = Path(__file__).parent / "fixtures" / "feeds" / "arxiv_rss_hostile.xml"
NOW = datetime(2024, 11, 18, 14, 0, tzinfo=UTC)

HUGE_ITEM = """<item>
  <title>Huge Abstract on Adversarial Robustness {{ 7*7 }} &lt;/mj-text&gt;</title>
  <link>https://arxiv.org/abs/2411.30009</link>
  <description>arXiv:2411.30009v1 Announce Type: new
Abstract: %s</description>
  <guid isPermaLink="false">oai:arXiv.org:2411.30009v1</guid>
  <category>cs.CR</category>
  <pubDate>Mon, 18 Nov 2024 00:00:00 -0500</pubDate>
  <arxiv:announce_type>new</arxiv:announce_type>
  <dc:creator>Oscar</dc:creator>
</item>"""


def hostile_feed() -> bytes:
    abstract = "adversarial attacks on privacy &lt;/mj-column&gt; " * 110_000  # ~5 MB
    data = FEED.read_text(encoding="utf-8")
    return data.replace("</channel>", HUGE_ITEM % abstract + "</channel>").encode("utf-8")


def test_it_keeps_hostile_feed_text_inert_all_the_way_to_the_email(engine, tmp_path):
    papers, skipped, _ = arxiv_rss.parse(hostile_feed(), "arxiv", NOW)
    assert len(skipped) == 2  # the item without a guid and the one without a title
    store(engine, papers, NOW)
    subscribe(engine, now=NOW, topics=[TopicChoice("security-robustness")], max_papers=50)
    outbox = tmp_path / "outbox"
    assert send(engine, outbox, NOW).counts["sent"] == 1
    raw = next(outbox.glob("*.eml")).read_bytes()
    assert len(raw) < 400_000
    (message,) = read_outbox(outbox)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "<script" not in html and "<img" not in html  # feed markup never becomes markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in text and "49" not in message["Subject"]
    assert "javascript:" not in html
    assert "</mj-" not in html  # MJML tags from feed text never reach the output as markup
    for _name, value in message.items():
        assert "\r" not in value and "\n" not in value.replace("\r\n ", "").replace("\n ", "")
    assert message["Bcc"] is None and message["Injection"] is None
    assert "Kept Despite Its Neighbours" in text
