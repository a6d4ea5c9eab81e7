"""arXiv sources through the production path: Fetcher + fetch_source against
fixture feeds served over loopback HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from digest.config import SourceConfig
from digest.http import Fetcher, user_agent_for
from digest.sources import FetchState, SourceError, arxiv_rss, fetch_source
from digest.sources.base import EMPTY_LISTING_NOTE
from digest.text import MAX_ABSTRACT
from tests.fakes.feeds import FEEDS, feed
from tests.fakes.http_server import FakeHTTPServer, Reply

NOW = datetime(2024, 11, 18, 14, 0, tzinfo=UTC)
ANNOUNCED = datetime(2024, 11, 18, 5, 0, tzinfo=UTC)  # midnight US Eastern


@pytest.fixture
def fetcher(waits):
    agent = user_agent_for("ops@example.org")
    with Fetcher(agent, connect_timeout=0.5, read_timeout=0.5, retries=1, sleep=waits.append) as f:
        yield f


def rss_source(server: FakeHTTPServer, path: str = "/rss/cs.LG") -> SourceConfig:
    return SourceConfig(name="arxiv", kind="arxiv-rss", url=server.url(path))


def fetch_rss(server, fetcher, body: bytes, state=FetchState(), listing_date=None, **headers):
    server.script(
        "/rss/cs.LG", Reply(200, body, {"Content-Type": "application/rss+xml", **headers})
    )
    return fetch_source(rss_source(server), fetcher, state, listing_date, NOW)


def test_it_reads_all_four_announce_types(server, fetcher):
    result = fetch_rss(server, fetcher, feed("arxiv_rss_2024.xml"))

    assert result.fetched == 4 and result.skipped == [] and not result.not_modified
    by_key = {p.key: p for p in result.papers}
    new, cross = by_key["2411.10001"], by_key["2411.10002"]
    replace, replace_cross = by_key["2409.01234"], by_key["hep-th/9901001"]
    assert [new.announce_type, cross.announce_type] == ["new", "cross"]
    assert [replace.announce_type, replace_cross.announce_type] == ["replace", "replace-cross"]
    assert new.available_at == cross.available_at == ANNOUNCED
    assert new.published_at == ANNOUNCED and cross.published_at is None
    assert replace.available_at is None and replace_cross.available_at is None
    assert replace.updated_at == replace_cross.updated_at == ANNOUNCED
    assert (replace.version, replace_cross.version, new.version) == (3, 2, 1)
    assert cross.is_cross_list and replace_cross.is_cross_list and not new.is_cross_list


def test_it_reads_an_rss_item_completely(server, fetcher):
    result = fetch_rss(server, fetcher, feed("arxiv_rss_2024.xml"))
    paper = result.papers[0]

    assert paper.key == paper.arxiv_id == "2411.10001"
    assert paper.title == "Sparse Mixtures of Diffusion Experts for Video Generation"
    assert paper.abstract == (
        "We introduce sparse mixtures of diffusion experts. "
        "For n < 10 experts, training cost drops by 40%."
    )
    assert paper.authors == ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
    assert paper.categories == ["cs.CV", "cs.LG"] and paper.primary_category == "cs.CV"
    assert paper.abs_url == "https://arxiv.org/abs/2411.10001"
    assert paper.pdf_url == "https://arxiv.org/pdf/2411.10001"
    assert paper.sources == ["arxiv"]
    sent = server.requests[0].headers
    assert sent["User-Agent"].startswith("TrendingPapersDigest/")
    assert "mailto:ops@example.org" in sent["User-Agent"]


def test_it_reads_the_atom_flavour_of_the_feed(server, fetcher):
    result = fetch_rss(server, fetcher, feed("arxiv_atom_2024.xml"))

    new, replaced = result.papers
    assert (new.key, new.version, new.announce_type) == ("2411.11111", 1, "new")
    assert new.authors == ["Noam Chomsky", "Barbara Liskov"]
    assert new.abstract == "Byte-level models & friends."
    assert new.available_at == datetime(2024, 11, 19, 5, tzinfo=UTC)
    assert (replaced.key, replaced.announce_type, replaced.available_at) == (
        "2410.22222",
        "replace-cross",
        None,
    )
    assert replaced.primary_category == "eess.AS"


def test_it_sends_the_etag_back_and_reports_not_modified(server, fetcher):
    first = fetch_rss(
        server, fetcher, feed("arxiv_rss_2024.xml"), ETag='"abc"', **{"Last-Modified": "Mon"}
    )
    assert first.state == FetchState('"abc"', "Mon")

    server.script("/rss/cs.LG", Reply(304))
    second = fetch_source(rss_source(server), fetcher, first.state, None, NOW)

    assert server.requests[1].headers["If-None-Match"] == '"abc"'
    assert server.requests[1].headers["If-Modified-Since"] == "Mon"
    assert second.not_modified and second.papers == [] and second.fetched == 0
    assert second.state == first.state


def test_it_retries_a_503_and_then_reads_the_feed(server, fetcher, waits):
    server.script(
        "/rss/cs.LG",
        Reply(503, b"busy", {"Retry-After": "0"}),
        Reply(200, feed("arxiv_rss_2024.xml")),
    )

    result = fetch_source(rss_source(server), fetcher, FetchState(), None, NOW)

    assert len(result.papers) == 4
    assert waits == [1.0]


def test_it_fails_the_source_on_a_read_timeout(server, fetcher):
    server.script("/rss/cs.LG", Reply(200, feed("arxiv_rss_2024.xml"), delay=0.6))
    quick = Fetcher("test", read_timeout=0.2, retries=0)

    with quick, pytest.raises(SourceError) as caught:
        fetch_source(rss_source(server), quick, FetchState(), None, NOW)

    assert str(caught.value).startswith("arxiv: ")
    assert "read timeout after 1 attempts" in str(caught.value)


def test_it_names_the_url_and_status_of_a_missing_feed(server, fetcher):
    server.script("/rss/cs.LG", Reply(404, b"<html>no</html>"))

    with pytest.raises(SourceError) as caught:
        fetch_source(rss_source(server), fetcher, FetchState(), None, NOW)

    assert str(caught.value) == f"arxiv: {server.url('/rss/cs.LG')}: HTTP 404 Not Found"


def test_it_treats_an_empty_weekend_feed_as_a_normal_result(server, fetcher):
    result = fetch_rss(server, fetcher, feed("arxiv_rss_weekend.xml"), ETag='"sat"')

    assert result.papers == [] and result.fetched == 0 and result.skipped == []
    assert result.notes == [EMPTY_LISTING_NOTE]
    assert result.state.etag == '"sat"'


def test_it_keeps_the_items_before_truncated_xml(server, fetcher):
    result = fetch_rss(server, fetcher, feed("arxiv_rss_truncated.xml"))

    assert [p.key for p in result.papers] == ["2411.20001", "2411.20002"]
    assert result.fetched == 3
    assert "malformed" in result.skipped[0] and "line" in result.skipped[0]
    assert "'Third Item, Cut Off'" in result.skipped[1] and "cut off" in result.skipped[1]


def test_it_rejects_xml_truncated_before_any_item(server, fetcher):
    body = feed("arxiv_rss_2024.xml")
    with pytest.raises(SourceError, match="malformed or truncated XML"):
        fetch_rss(server, fetcher, body[: body.index(b"<item>")])


def test_it_rejects_an_html_page_served_as_a_feed(server, fetcher):
    with pytest.raises(SourceError) as caught:
        fetch_rss(server, fetcher, feed("not_a_feed.html"), **{"Content-Type": "text/html"})

    assert str(caught.value) == (
        "arxiv: got an HTML page, not a feed titled '503 Service Temporarily Unavailable'"
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty response body"),
        (b"  \n", "empty response body"),
        (b'{"items": []}', "not an RSS or Atom feed"),
        (b"<?xml version='1.0'?><sitemap><url/></sitemap>", "not an RSS or Atom feed"),
    ],
)
def test_it_rejects_bodies_that_are_not_feeds(server, fetcher, body, reason):
    with pytest.raises(SourceError, match=reason):
        fetch_rss(server, fetcher, body)


def test_it_never_reads_a_local_file_named_by_the_body(server, fetcher):
    # feedparser opens bare bytes that name an existing file; a hostile server
    # must not be able to make us parse (or report on) a local file.
    local = str(FEEDS / "arxiv_rss_2024.xml").encode()

    with pytest.raises(SourceError, match="not XML"):
        fetch_rss(server, fetcher, local)


def test_it_skips_items_without_id_or_title_and_keeps_the_rest(server, fetcher):
    result = fetch_rss(server, fetcher, feed("arxiv_rss_hostile.xml"))

    assert [p.key for p in result.papers] == ["2411.30001", "2411.30002", "2411.30005"]
    assert result.skipped == [
        "item 3 ('An Item Without a Guid'): no arXiv id in its guid",
        "oai:arXiv.org:2411.30004v1: no title",
    ]
    assert result.fetched == 5


def test_it_stores_hostile_text_as_inert_single_lines(server, fetcher):
    papers = {p.key: p for p in fetch_rss(server, fetcher, feed("arxiv_rss_hostile.xml")).papers}

    script = papers["2411.30001"]
    assert script.title == "<script>alert(1)</script> Breaking {{ 7*7 }} Templates"
    assert "49" not in script.title
    # arXiv descriptions are plain text: markup in them is kept as literal characters
    # (rendering escapes it), exactly like the title.
    assert (
        script.abstract == "<img src=x onerror=alert(1)>Payload {% if true %}yes{% endif %} here."
    )
    injected = papers["2411.30002"]
    assert injected.title == "Header Injection: yes and a second line"
    for paper in papers.values():
        for text in [paper.title, paper.abstract, *paper.authors]:
            assert "\r" not in text and "\n" not in text
        assert paper.abs_url.startswith("https://arxiv.org/abs/")


def test_it_caps_a_five_megabyte_abstract(server, fetcher):
    body = feed("arxiv_rss_2024.xml").replace(b"Robots grasp things.", b"word " * 1_000_000)
    assert len(body) > 5_000_000

    result = fetch_rss(server, fetcher, body)

    paper = next(p for p in result.papers if p.key == "2411.10002")
    assert len(paper.abstract) <= MAX_ABSTRACT and paper.abstract.endswith("…")
    assert len(result.papers) == 4


def test_it_takes_the_feed_when_the_listing_date_matches(server, fetcher):
    result = fetch_rss(server, fetcher, feed("arxiv_rss_2024.xml"), listing_date=date(2024, 11, 18))

    assert len(result.papers) == 4


def test_it_returns_nothing_for_another_listing_date(server, fetcher):
    old = FetchState('"old"', None)
    result = fetch_rss(
        server, fetcher, feed("arxiv_rss_2024.xml"), old, date(2024, 11, 11), ETag='"new"'
    )

    assert result.papers == [] and result.fetched == 0
    assert "2024-11-18, not 2024-11-11" in result.notes[0]
    assert "arxiv-api" in result.notes[0]
    assert result.state == old  # the content was not taken


def api_source(server: FakeHTTPServer, **fields) -> SourceConfig:
    return SourceConfig(name="backfill", kind="arxiv-api", url=server.url("/api/query"), **fields)


def test_it_reads_api_entries_with_multiline_titles_and_versions(server, fetcher):
    server.script("/api/query", Reply(200, feed("arxiv_api_query.xml")))
    cfg = api_source(server, categories=["cs.LG", "cs.CV"])

    result = fetch_source(cfg, fetcher, FetchState(), None, NOW)

    v2, v1, v3 = result.papers
    assert v2.title == "Scaling Laws for Multi-Line Titles in Atom Feeds"
    assert v2.abstract == "We study titles that span several lines. Abstracts do too: x < y."
    assert v3.title == "Third Time Lucky"
    assert [(p.key, p.version) for p in (v2, v1, v3)] == [
        ("2411.01234", 2),
        ("2411.05678", 1),
        ("2310.09999", 3),
    ]
    assert v2.authors == ["Yann LeCun", "Yoshua Bengio", "Geoffrey Hinton"]
    assert v2.published_at == datetime(2024, 11, 2, 9, tzinfo=UTC)
    assert v2.updated_at == datetime(2024, 11, 15, 17, 20, 1, tzinfo=UTC)
    # An undated backfill dates each paper by its first version, whatever its version now.
    assert v2.available_at == v2.published_at and v3.available_at == v3.published_at
    assert v1.available_at == v1.published_at == datetime(2024, 11, 8, 12, tzinfo=UTC)
    assert v1.primary_category == "cs.CV" and v1.categories == ["cs.CV", "cs.LG"]
    assert v2.pdf_url == "https://arxiv.org/pdf/2411.01234"  # unversioned: follows new versions
    assert v2.doi == "10.1234/example.5678"
    query = server.requests[0]
    assert query.param("search_query") == "cat:cs.LG OR cat:cs.CV"
    assert (query.param("start"), query.param("max_results")) == ("0", "100")


def test_it_narrows_an_api_query_to_what_was_announced_on_the_listing_date(server, fetcher):
    server.script("/api/query", Reply(200, feed("arxiv_api_empty.xml")))
    cfg = api_source(server, query="abs:diffusion")

    result = fetch_source(cfg, fetcher, FetchState(), date(2024, 11, 15), NOW)

    assert result.papers == [] and result.fetched == 0
    # Friday's listing: submitted Wednesday 14:00 to Thursday 14:00 US Eastern (EST = UTC-5).
    assert server.requests[0].param("search_query") == (
        "(abs:diffusion) AND submittedDate:[202411131900 TO 202411141900]"
    )


def test_it_spans_the_weekend_for_a_monday_listing_and_dates_papers_by_it():
    from digest.sources.arxiv_api import announcement_window, parse

    start, end = announcement_window(date(2024, 11, 18))  # a Monday
    assert (start, end) == (
        datetime(2024, 11, 14, 19, tzinfo=UTC),
        datetime(2024, 11, 15, 19, tzinfo=UTC),
    )
    tuesday = announcement_window(date(2024, 11, 19))
    assert tuesday == (
        datetime(2024, 11, 15, 19, tzinfo=UTC),
        datetime(2024, 11, 18, 19, tzinfo=UTC),
    )
    papers, _, _ = parse(feed("arxiv_api_query.xml"), "backfill", date(2024, 11, 18))
    assert {p.available_at for p in papers} == {datetime(2024, 11, 18, 5, tzinfo=UTC)}


def test_it_fetches_api_ids(server, fetcher):
    server.script("/api/query", Reply(200, feed("arxiv_api_query.xml")))
    cfg = api_source(server, ids=["2411.01234", "2411.05678", "2310.09999"])

    fetch_source(cfg, fetcher, FetchState(), None, NOW)

    request = server.requests[0]
    assert request.param("id_list") == "2411.01234,2411.05678,2310.09999"
    assert request.param("search_query") is None and request.param("max_results") == "3"


def api_page(first: int, count: int, total: int) -> bytes:
    entries = "".join(
        f"""<entry><id>http://arxiv.org/abs/2411.{n:05d}v1</id>
        <published>2024-11-01T00:00:00Z</published><updated>2024-11-01T00:00:00Z</updated>
        <title>Paper {n}</title><summary>About {n}.</summary>
        <author><name>Author {n}</name></author></entry>"""
        for n in range(first, first + count)
    )
    return (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"><title>q</title>'
        f"<opensearch:totalResults>{total}</opensearch:totalResults>{entries}</feed>"
    ).encode()


def test_it_pages_through_api_results(server, fetcher):
    server.script(
        "/api/query", Reply(200, api_page(0, 100, 130)), Reply(200, api_page(100, 30, 130))
    )
    cfg = api_source(server, categories=["cs.LG"], max_results=500)

    result = fetch_source(cfg, fetcher, FetchState(), None, NOW)

    assert len(result.papers) == 130 and result.fetched == 130
    assert [r.param("start") for r in server.requests] == ["0", "100"]


def test_it_fails_the_source_on_an_api_error_entry(server, fetcher):
    server.script("/api/query", Reply(200, feed("arxiv_api_error.xml")))

    with pytest.raises(SourceError) as caught:
        fetch_source(api_source(server, ids=["1234.12345"]), fetcher, FetchState(), None, NOW)

    assert str(caught.value) == "backfill: arXiv API error: incorrect id format for 1234.12345"


def test_it_needs_something_to_ask_the_api_for(server, fetcher):
    with pytest.raises(SourceError, match="needs query, categories or ids"):
        fetch_source(api_source(server), fetcher, FetchState(), None, NOW)
    assert server.requests == []


MATHS_ITEM = """<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0">
<channel><title>cs.LG updates on arXiv.org</title><link>http://rss.arxiv.org/rss/cs.LG</link>
<description>x</description><pubDate>Mon, 18 Nov 2024 00:00:00 -0500</pubDate>
<item><title>Bounds for n &lt; m</title><link>https://arxiv.org/abs/2411.40001</link>
<description>arXiv:2411.40001v1 Announce Type: new
Abstract: For all n&lt;m and m&gt;k we show $a&lt;b$, $c&gt;d$ and &lt;b&gt;bold&lt;/b&gt; stays literal.</description>
<guid isPermaLink="false">oai:arXiv.org:2411.40001v1</guid><category>cs.LG</category>
<arxiv:announce_type>new</arxiv:announce_type><dc:creator>The ATLAS and CMS Collaborations</dc:creator></item>
</channel></rss>"""


def test_it_keeps_maths_with_angle_brackets_in_abstracts_as_written():
    papers, skipped, _ = arxiv_rss.parse(MATHS_ITEM.encode(), "arxiv", NOW)
    assert skipped == []
    (paper,) = papers
    assert paper.abstract == (
        "For all n<m and m>k we show $a<b$, $c>d$ and <b>bold</b> stays literal."
    )
    assert paper.title == "Bounds for n < m"
    assert paper.authors == ["The ATLAS and CMS Collaborations"]
