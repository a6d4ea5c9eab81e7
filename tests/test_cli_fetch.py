"""`digest fetch` end to end: config -> httpx against loopback -> database -> report."""

from pathlib import Path

from digest.db.engine import open_engine
from digest.store.papers import list_papers
from tests.cli_helpers import run_digest
from tests.fakes.feeds import feed
from tests.fakes.http_server import FakeHTTPServer, Reply


def write_config(tmp_path, sources: list[tuple[str, str, str]]) -> Path:
    lines = []
    for name, kind, url in sources:
        lines += ["[[sources]]", f'name = "{name}"', f'kind = "{kind}"', f'url = "{url}"', ""]
    path = tmp_path / "digest.toml"
    path.write_text("\n".join(lines))
    return path


def fetch(database_url, config, *args):
    env = {"DIGEST_DATABASE_URL": database_url}
    return run_digest(["--config", str(config), "fetch", *args], env)


def test_it_reports_per_source_and_reruns_with_zero_new(database_url, tmp_path):
    with FakeHTTPServer() as server:
        server.script("/rss", Reply(200, feed("arxiv_rss_2024.xml"), {"ETag": '"v1"'}))
        server.script("/hf", Reply(200, feed("hf_daily_p0.json")))
        config = write_config(
            tmp_path,
            [("arxiv", "arxiv-rss", server.url("/rss")), ("hf", "hf-daily", server.url("/hf"))],
        )
        first = fetch(database_url, config)
        assert first.exit_code == 0, first.stderr
        assert "arxiv: fetched" in first.stdout and "hf: fetched 3" in first.stdout
        server.script("/rss", Reply(304, headers={"ETag": '"v1"'}))
        again = fetch(database_url, config)
        assert again.exit_code == 0, again.stderr
        for line in again.stdout.splitlines():
            if line.startswith(("arxiv:", "hf:")):
                assert "new 0" in line, line
        assert server.requests_to("/rss")[-1].headers.get("If-None-Match") == '"v1"'
    engine = open_engine(database_url)
    with engine.begin() as conn:
        keys = {p.key for p in list_papers(conn)}
    engine.dispose()
    assert {"2411.10001", "2411.10440"} <= keys


def test_it_keeps_the_good_source_when_another_fails(database_url, tmp_path):
    with FakeHTTPServer() as server:
        server.script("/rss", Reply(200, feed("arxiv_rss_2024.xml")))
        server.script("/broken", Reply(200, feed("not_a_feed.html"), {"Content-Type": "text/html"}))
        config = write_config(
            tmp_path,
            [("broken", "feed", server.url("/broken")), ("arxiv", "arxiv-rss", server.url("/rss"))],
        )
        result = fetch(database_url, config)
    assert result.exit_code == 1
    assert result.stderr.startswith("fetching broken (http://")  # says what it waits for
    (failure,) = [line for line in result.stderr.splitlines() if "FAILED" in line]
    assert failure.startswith("broken: FAILED:") and failure.count("broken") == 1
    assert "arxiv: fetched" in result.stdout
    engine = open_engine(database_url)
    with engine.begin() as conn:
        assert any(p.key == "2411.10001" for p in list_papers(conn))
    engine.dispose()
    status = run_digest(["--config", str(config), "status"], {"DIGEST_DATABASE_URL": database_url})
    assert status.exit_code == 0 and "broken" in status.stdout


def test_it_treats_an_empty_weekend_feed_as_a_normal_day(database_url, tmp_path):
    with FakeHTTPServer() as server:
        server.script("/rss", Reply(200, feed("arxiv_rss_weekend.xml")))
        config = write_config(tmp_path, [("arxiv", "arxiv-rss", server.url("/rss"))])
        result = fetch(database_url, config)
    assert result.exit_code == 0, result.stderr
    assert "arxiv: fetched 0, new 0" in result.stdout
    assert "weekend or holiday" in result.stdout


def test_it_names_an_unknown_source_before_fetching(database_url, tmp_path):
    config = write_config(tmp_path, [("arxiv", "arxiv-rss", "http://127.0.0.1:9/rss")])
    result = fetch(database_url, config, "--source", "nope")
    assert result.exit_code == 1
    assert "unknown source 'nope'" in result.stderr


def test_it_rejects_an_unknown_kind_before_any_fetch(database_url, tmp_path):
    with FakeHTTPServer() as server:
        config = write_config(tmp_path, [("x", "gopher", server.url("/x"))])
        result = fetch(database_url, config)
        assert server.requests == []
    assert result.exit_code == 1
    assert "sources[1].kind: must be one of" in result.stderr


def test_it_fetches_the_bundled_sample_listings_through_the_production_path(database_url, tmp_path):
    from importlib import resources

    samples = resources.files("digest.samples")
    with FakeHTTPServer() as server:
        server.script("/rss", Reply(200, samples.joinpath("arxiv-2026-11-20.xml").read_bytes()))
        server.script("/hf", Reply(200, samples.joinpath("hf-2026-11-20.json").read_bytes()))
        config = write_config(
            tmp_path,
            [("arxiv", "arxiv-rss", server.url("/rss")), ("hf", "hf-daily", server.url("/hf"))],
        )
        result = fetch(database_url, config, "--date", "2026-11-20")
        assert server.requests_to("/hf")[0].param("date") == "2026-11-20"
    assert result.exit_code == 0, result.stderr
    assert "arxiv: fetched 48, new 43, updated 5, skipped 0" in result.stdout
    assert "hf: fetched 24" in result.stdout and "skipped 0" in result.stdout.split("hf:")[1]
    engine = open_engine(database_url)
    with engine.begin() as conn:
        papers = {p.key: p for p in list_papers(conn)}
    engine.dispose()
    both = [p for p in papers.values() if p.sources == ["arxiv", "hf"]]
    assert both and all(p.upvotes is not None and p.categories for p in both)


def test_it_stores_feed_text_with_lone_surrogates_as_inert_text(database_url, tmp_path):
    bad = "\\ud800"  # valid JSON, not encodable as UTF-8
    item = (
        '{"paper": {"id": "2611.19999", "title": "T' + bad + 'itle", "summary": "Sum' + bad + '",'
        ' "authors": [{"name": "A' + bad + '"}], "upvotes": 3, "ai_keywords": ["k' + bad + '"],'
        ' "githubRepo": "https://github.com/x/y' + bad + '"}, "numComments": 1}'
    )
    with FakeHTTPServer() as server:
        server.script("/hf", Reply(200, f"[{item}]".encode()))
        server.script("/rss", Reply(200, feed("arxiv_rss_2024.xml")))
        config = write_config(
            tmp_path,
            [("hf", "hf-daily", server.url("/hf")), ("arxiv", "arxiv-rss", server.url("/rss"))],
        )
        result = fetch(database_url, config)
    assert result.exit_code == 0, result.stderr
    engine = open_engine(database_url)
    with engine.begin() as conn:
        papers = {p.key: p for p in list_papers(conn)}
    engine.dispose()
    stored = papers["2611.19999"]
    assert stored.title == "T itle" and stored.authors == ["A"] and stored.code_url is None
    assert "2411.10001" in papers
