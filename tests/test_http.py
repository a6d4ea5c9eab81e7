"""The fetcher against a loopback HTTP server: conditional GET, retries,
Retry-After, timeouts, size cap, and the pause between requests to arXiv hosts."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import httpx
import pytest

import digest
from digest.http import Fetcher, FetchError, retry_after_seconds, user_agent_for
from tests.fakes.http_server import Reply

UA = user_agent_for("ops@example.org")


@pytest.fixture
def fetcher(waits):
    with Fetcher(UA, connect_timeout=0.5, read_timeout=0.5, retries=2, sleep=waits.append) as f:
        yield f


def test_it_sends_user_agent_and_returns_body(server, fetcher):
    server.script("/feed", Reply(200, b"<rss/>", {"ETag": '"v1"', "Last-Modified": "Mon"}))

    response = fetcher.get(server.url("/feed"), params={"q": "x y"})

    assert response.status == 200 and response.content == b"<rss/>"
    assert response.etag == '"v1"' and response.last_modified == "Mon"
    assert not response.not_modified
    request = server.requests[0]
    assert request.headers["User-Agent"] == UA
    assert request.param("q") == "x y"
    assert "If-None-Match" not in request.headers


def test_it_sends_validators_and_reports_not_modified(server, fetcher):
    server.script("/feed", Reply(304, headers={"ETag": '"v1"'}))

    response = fetcher.get(server.url("/feed"), etag='"v1"', last_modified="Mon, 18 Nov 2024")

    assert response.not_modified and response.content == b""
    assert server.requests[0].headers["If-None-Match"] == '"v1"'
    assert server.requests[0].headers["If-Modified-Since"] == "Mon, 18 Nov 2024"


def test_it_retries_a_503_then_succeeds(server, fetcher, waits):
    server.script("/feed", Reply(503, headers={"Retry-After": "0"}), Reply(200, b"ok"))

    assert fetcher.get(server.url("/feed")).content == b"ok"
    assert len(server.requests) == 2
    assert waits == [1.0]  # Retry-After: 0 never makes us retry faster than our backoff


def test_it_honours_retry_after_seconds_on_429(server, fetcher, waits):
    server.script("/api", Reply(429, headers={"Retry-After": "7"}), Reply(200, b"[]"))

    fetcher.get(server.url("/api"))

    assert waits == [7.0]


def test_it_backs_off_exponentially_and_gives_up_with_a_readable_message(server, waits):
    server.script("/feed", Reply(502))
    with (
        Fetcher(UA, retries=3, backoff=1.0, sleep=waits.append) as fetcher,
        pytest.raises(FetchError) as caught,
    ):
        fetcher.get(server.url("/feed"))

    assert waits == [1.0, 2.0, 4.0]
    assert str(caught.value) == f"{server.url('/feed')}: HTTP 502 Bad Gateway after 4 attempts"
    assert caught.value.status == 502


def test_it_gives_up_at_once_when_retry_after_is_too_long(server, fetcher, waits):
    server.script("/api", Reply(429, headers={"Retry-After": "3600"}))

    with pytest.raises(FetchError, match="429 Too Many Requests .*Retry-After 3600 s"):
        fetcher.get(server.url("/api"))
    assert waits == [] and len(server.requests) == 1


def test_it_fails_fast_on_404(server, fetcher):
    server.script("/rss", Reply(404, b"no such feed"))

    with pytest.raises(FetchError) as caught:
        fetcher.get(server.url("/rss"))

    assert str(caught.value) == f"{server.url('/rss')}: HTTP 404 Not Found"
    assert len(server.requests) == 1


def test_it_retries_a_read_timeout_then_gives_up(server, waits):
    server.script("/slow", Reply(200, b"late", delay=0.6))
    with (
        Fetcher(UA, read_timeout=0.2, retries=1, sleep=waits.append) as fetcher,
        pytest.raises(FetchError, match=r"/slow: read timeout after 2 attempts$"),
    ):
        fetcher.get(server.url("/slow"))
    assert len(server.requests) == 2


def test_it_reports_a_refused_connection(waits):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the request
    with (
        Fetcher(UA, connect_timeout=0.5, retries=1, sleep=waits.append) as fetcher,
        pytest.raises(FetchError, match="connection failed .*after 2 attempts"),
    ):
        fetcher.get(f"http://127.0.0.1:{port}/feed")


def test_it_refuses_a_body_over_the_cap(server):
    server.script("/big", Reply(200, b"x" * 5000))
    with (
        Fetcher(UA, max_bytes=1000) as fetcher,
        pytest.raises(FetchError, match="body larger than"),
    ):
        fetcher.get(server.url("/big"))


def test_it_rejects_a_url_it_cannot_fetch(fetcher):
    with pytest.raises(FetchError, match="invalid URL"):
        fetcher.get("ftp://example.org/feed")


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def _offline(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"<feed/>")


def test_it_spaces_requests_to_arxiv_hosts_by_three_seconds():
    clock = FakeClock()
    transport = httpx.MockTransport(_offline)
    with Fetcher(UA, sleep=clock.sleep, clock=clock, transport=transport) as fetcher:
        fetcher.get("https://export.arxiv.org/api/query")
        fetcher.get("https://rss.arxiv.org/rss/cs.LG")  # same rule: *.arxiv.org
        clock.now += 10
        fetcher.get("https://export.arxiv.org/api/query")  # long enough ago
        fetcher.get("https://huggingface.co/api/daily_papers")  # not rate-limited

    assert clock.waits == [3.0]


def test_it_waits_only_the_rest_of_the_interval():
    clock = FakeClock()
    transport = httpx.MockTransport(_offline)
    with Fetcher(UA, sleep=clock.sleep, clock=clock, transport=transport) as fetcher:
        fetcher.get("https://export.arxiv.org/api/query")
        clock.now += 1.0
        fetcher.get("https://export.arxiv.org/api/query")

    assert clock.waits == [2.0]


def test_it_reads_retry_after_as_seconds_or_http_date():
    now = datetime(2024, 11, 18, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("5", now) == 5.0
    assert retry_after_seconds("Mon, 18 Nov 2024 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Mon, 18 Nov 2024 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_it_builds_a_user_agent_with_the_contact():
    version = digest.__version__
    assert user_agent_for("ops@example.org") == (
        f"TrendingPapersDigest/{version} "
        "(+https://github.com/trending-papers-digest; mailto:ops@example.org)"
    )
    assert user_agent_for(None) == (
        f"TrendingPapersDigest/{version} (+https://github.com/trending-papers-digest)"
    )
    hostile = user_agent_for("a@b.org\r\nX-Evil: 1 (x); y")
    assert "\r" not in hostile and "\n" not in hostile
    assert hostile.count("(") == 1 and hostile.count(")") == 1


def test_it_gives_up_on_a_server_that_trickles_its_headers(server):
    import socket
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def trickle():
        conn, _ = listener.accept()
        conn.recv(1024)
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        try:
            for _ in range(40):  # a header line every 0.1 s, each read well within the timeout
                conn.sendall(b"X-Slow: y\r\n")
                time.sleep(0.1)
        except OSError:
            pass
        conn.close()

    threading.Thread(target=trickle, daemon=True).start()
    with Fetcher(UA, read_timeout=1, retries=0, max_seconds=0.5) as fetcher:
        started = time.monotonic()
        with pytest.raises(FetchError, match="no complete response within 0.5 s"):
            fetcher.get(f"http://127.0.0.1:{port}/slow")
        assert time.monotonic() - started < 3
        # The fetcher stays usable after giving up.
        server.script("/ok", Reply(200, b"fine"))
        assert fetcher.get(server.url("/ok")).content == b"fine"
    listener.close()


def test_it_refuses_an_unfollowed_redirect(server, fetcher):
    server.script("/moved", Reply(302, b"[]"))
    with pytest.raises(FetchError, match="HTTP 302"):
        fetcher.get(server.url("/moved"))


def test_it_names_a_contact_given_with_a_display_name():
    assert user_agent_for("Ops Team <ops@example.org>").endswith("mailto:ops@example.org)")
    assert user_agent_for("Jörg Müller <jörg@exämple.org>").isascii()
