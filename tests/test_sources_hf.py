"""Hugging Face daily papers through Fetcher + fetch_source on loopback HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from digest.config import SourceConfig
from digest.http import Fetcher
from digest.sources import FetchState, SourceError, fetch_source
from tests.fakes.feeds import feed
from tests.fakes.http_server import FakeHTTPServer, Reply

NOW = datetime(2024, 11, 18, 23, 30, tzinfo=UTC)
PATH = "/api/daily_papers"


@pytest.fixture
def fetcher(waits):
    with Fetcher("test-agent", read_timeout=0.5, retries=1, sleep=waits.append) as f:
        yield f


def hf_source(server: FakeHTTPServer, **fields) -> SourceConfig:
    return SourceConfig(name="hf", kind="hf-daily", url=server.url(PATH), **fields)


def script_two_pages(server: FakeHTTPServer) -> None:
    server.script(f"{PATH}?date=2024-11-18&limit=3&p=0", Reply(200, feed("hf_daily_p0.json")))
    server.script(f"{PATH}?date=2024-11-18&limit=3&p=1", Reply(200, feed("hf_daily_p1.json")))
    server.script(f"{PATH}?date=2024-11-18&limit=3&p=2", Reply(200, b"[]"))


def test_it_reads_the_list_across_pages(server, fetcher):
    script_two_pages(server)

    result = fetch_source(hf_source(server, limit=3), fetcher, FetchState(), None, NOW)

    keys = [p.key for p in result.papers]
    assert keys == ["2411.10440", "2411.10001", "2411.09999", "2411.11111"]
    assert result.fetched == 6
    assert result.skipped == [
        "item 1 ('No Id Here'): no arXiv id in paper.id",
        "2411.12345: no title",
    ]
    assert [r.param("p") for r in server.requests] == ["0", "1", "2"]
    assert {r.param("date") for r in server.requests} == {"2024-11-18"}


def test_it_maps_every_field_of_an_item(server, fetcher):
    script_two_pages(server)

    paper = fetch_source(hf_source(server, limit=3), fetcher, FetchState(), None, NOW).papers[0]

    assert paper.title == "LLaVA-o1: Let Vision Language Models Reason Step-by-Step"
    assert paper.abstract == (
        "Large language models have demonstrated substantial advancements in reasoning."
    )
    assert paper.authors == ["Guowei Xu", "Peng Jin"]
    assert (paper.upvotes, paper.comments, paper.github_stars) == (63, 4, 1234)
    assert paper.code_url == "https://github.com/PKU-YuanGroup/LLaVA-o1"
    assert paper.project_url == "https://example.org/llava-o1"
    assert paper.hf_url == "https://huggingface.co/papers/2411.10440"
    assert paper.abs_url == "https://arxiv.org/abs/2411.10440"
    assert paper.pdf_url == "https://arxiv.org/pdf/2411.10440"
    assert paper.ai_summary == "A vision-language model that reasons in stages."
    assert paper.ai_keywords == ["vision-language models", "reasoning", "chain of thought"]
    assert paper.published_at == datetime(2024, 11, 15, 18, 58, 31, tzinfo=UTC)
    assert paper.trending_at == datetime(2024, 11, 18, 0, 46, 35, 66000, tzinfo=UTC)
    assert paper.available_at is None
    assert paper.sources == ["hf"]


def test_it_dates_an_item_without_submission_time_by_the_list_date(server, fetcher):
    server.script(PATH, Reply(200, feed("hf_daily_p0.json")))

    result = fetch_source(hf_source(server), fetcher, FetchState(), date(2024, 11, 15), NOW)

    second = result.papers[1]
    assert second.trending_at == datetime(2024, 11, 15, tzinfo=UTC)
    assert server.requests[0].param("date") == "2024-11-15"
    assert len(server.requests) == 1  # 3 items < limit 100: the last page


def test_it_ignores_fields_of_the_wrong_type(server, fetcher):
    server.script(PATH, Reply(200, feed("hf_daily_p0.json")))

    result = fetch_source(hf_source(server), fetcher, FetchState(), None, NOW)

    odd = next(p for p in result.papers if p.key == "2411.09999")
    assert (odd.upvotes, odd.github_stars, odd.comments) == (None, None, None)
    assert odd.code_url is None and odd.ai_keywords == [] and odd.ai_summary is None
    assert odd.title == "Bad Types Are Ignored"


def test_it_sends_the_token_when_configured(server, fetcher):
    server.script(PATH, Reply(200, b"[]"))

    result = fetch_source(hf_source(server), fetcher, FetchState(), None, NOW, hf_token="hf_abc")

    assert server.requests[0].headers["Authorization"] == "Bearer hf_abc"
    assert result.papers == [] and result.fetched == 0


def test_it_stops_at_max_pages(server, fetcher):
    server.script(PATH, Reply(200, feed("hf_daily_p0.json")))

    fetch_source(hf_source(server, limit=3, max_pages=2), fetcher, FetchState(), None, NOW)

    assert [r.param("p") for r in server.requests] == ["0", "1"]


def test_it_waits_as_told_by_a_429(server, fetcher, waits):
    server.script(PATH, Reply(429, headers={"Retry-After": "2"}), Reply(200, b"[]"))

    fetch_source(hf_source(server), fetcher, FetchState(), None, NOW)

    assert waits == [2.0]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (feed("hf_daily_invalid.json"), "hf: invalid JSON"),
        (b"", "hf: empty response body"),
        (b'{"error": "Invalid date"}', "hf: expected a JSON list of papers, got dict"),
    ],
)
def test_it_fails_the_source_on_a_body_that_is_not_a_list(server, fetcher, body, reason):
    server.script(PATH, Reply(200, body))

    with pytest.raises(SourceError) as caught:
        fetch_source(hf_source(server), fetcher, FetchState(), None, NOW)

    assert str(caught.value).startswith(reason)


def test_it_skips_items_that_are_not_objects(server, fetcher):
    body = b'[1, "x", null, {"paper": {"id": "2411.00001"}, "title": "Kept\\r\\nOne line"}]'
    server.script(PATH, Reply(200, body))

    result = fetch_source(hf_source(server), fetcher, FetchState(), None, NOW)

    assert [p.title for p in result.papers] == ["Kept One line"]
    assert result.skipped == [
        "item 1: not an object (int)",
        "item 2: not an object (str)",
        "item 3: not an object (NoneType)",
    ]
