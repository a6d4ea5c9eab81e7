"""Generic RSS/Atom feeds (journals, bioRxiv) through Fetcher + fetch_source."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from digest.config import SOURCE_KINDS, SourceConfig
from digest.http import Fetcher
from digest.sources import KINDS, FetchState, SourceError, fetch_source
from tests.fakes.feeds import FEEDS
from tests.fakes.http_server import Reply

NOW = datetime(2024, 11, 18, 12, tzinfo=UTC)


@pytest.fixture
def fetcher():
    with Fetcher("test-agent", read_timeout=0.5, retries=0) as f:
        yield f


def fetch_feed(server, fetcher, name: str, state=FetchState()):
    server.script("/feed", Reply(200, (FEEDS / name).read_bytes(), {"ETag": '"j1"'}))
    cfg = SourceConfig(name="journal", kind="feed", url=server.url("/feed"))
    return fetch_source(cfg, fetcher, state, None, NOW)


def test_it_keys_biorxiv_items_on_their_doi(server, fetcher):
    result = fetch_feed(server, fetcher, "biorxiv_rss10.xml")

    first, second = result.papers
    assert first.key == "doi:10.1101/2024.11.15.623456"
    assert second.key == "doi:10.1101/2024.11.14.600001"  # from prism:doi
    assert first.title == "Protein Language Models for E. coli Promoters"
    assert first.abstract == "We predict promoter strength."
    assert first.available_at == datetime(2024, 11, 18, tzinfo=UTC)
    assert first.abs_url == "http://biorxiv.org/cgi/content/short/2024.11.15.623456v1?rss=1"
    assert first.arxiv_id is None


def test_it_keys_on_arxiv_then_doi_then_link(server, fetcher):
    result = fetch_feed(server, fetcher, "journal_atom.xml")

    article, preprint, editorial = result.papers
    assert article.key == "doi:10.5555/jex.2024.042" and article.doi == "10.5555/JEX.2024.042"
    assert article.title == "Deep Learning in Practice"
    assert article.authors == ["Jane Researcher", "John Scholar"]
    assert article.categories == ["Machine Learning"]
    assert article.available_at == datetime(2024, 11, 17, 8, tzinfo=UTC)
    assert (preprint.key, preprint.version) == ("2411.10001", 2)
    assert preprint.abs_url == "https://arxiv.org/abs/2411.10001"
    assert editorial.key == "url:https://journal.example.org/editorials/1"
    assert editorial.available_at == NOW  # undated: the fetch time
    assert result.skipped == ["tag:journal.example.org,2024:nothing: no arXiv id, DOI or link"]
    assert result.fetched == 4


def test_it_fetches_a_feed_conditionally(server, fetcher):
    first = fetch_feed(server, fetcher, "journal_atom.xml")
    server.script("/feed", Reply(304))
    cfg = SourceConfig(name="journal", kind="feed", url=server.url("/feed"))

    second = fetch_source(cfg, fetcher, first.state, None, NOW)

    assert server.requests[1].headers["If-None-Match"] == '"j1"'
    assert second.not_modified and second.state.etag == '"j1"'


def test_it_rejects_an_html_page(server, fetcher):
    with pytest.raises(SourceError, match="journal: got an HTML page"):
        fetch_feed(server, fetcher, "not_a_feed.html")


def test_it_registers_every_configured_kind():
    assert set(KINDS) == set(SOURCE_KINDS)


def test_it_keys_items_naming_an_arxiv_paper_by_doi_or_hugging_face_page(server, fetcher):
    result = fetch_feed(server, fetcher, "arxiv_refs_rss.xml")

    keys = [(p.key, p.version) for p in result.papers]
    assert keys == [
        ("2411.10001", None),  # https://doi.org/10.48550/arXiv.<id>
        ("2411.10002", 3),  # 10.48550/ARXIV.<id>V3 as the guid
        ("2409.01234", None),  # huggingface.co/papers/<id>
        ("2411.20003", 2),  # hf.co/papers/<id>v2
        ("2411.20004", 1),  # arxiv.org/html/<id>v1
        ("2411.20005", None),  # dc:identifier doi:10.48550/arXiv.<id>
        ("2411.20006", 2),  # prism:doi, lower case
        ("doi:10.5555/jex.2024.042", None),
        ("url:https://example.org/papers/2411.20007", None),
    ]
    first = result.papers[0]
    assert first.arxiv_id == "2411.10001" and first.abs_url == "https://arxiv.org/abs/2411.10001"
