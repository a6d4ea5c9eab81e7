"""HTTP GET for every source: one httpx client, polite and bounded.

`Fetcher.get` sends a conditional GET with our User-Agent, keeps at least the
configured interval between requests to rate-limited hosts (arXiv asks for one
request every 3 s), retries what is worth retrying (429, 5xx, connection
failures, timeouts) with exponential backoff or the server's Retry-After, caps
the body it will hold in memory, and turns every failure into one `FetchError`
whose message is a readable line naming the URL and the reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr, parsedate_to_datetime
from types import TracebackType

import httpx

import digest
from digest.text import one_line

PROJECT_URL = "https://github.com/trending-papers-digest"
DEFAULT_HOST_INTERVALS: dict[str, float] = {"arxiv.org": 3.0}
MAX_BODY_BYTES = 50 * 1024 * 1024


class FetchError(Exception):
    """A GET that gave up. `str()` is one line: "<url>: <reason>"."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None):
        super().__init__(one_line(message, 1000))
        self.url = url
        self.status = status


@dataclass(frozen=True)
class FetchResponse:
    """The outcome of a GET that did not fail: a 2xx with its body, or a 304
    (`not_modified`, empty body) answering our conditional request."""

    url: str  # the final URL, after redirects
    status: int
    headers: httpx.Headers
    content: bytes = b""

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


def user_agent_for(contact: str | None) -> str:
    """Our User-Agent, naming the operator's contact when there is one, e.g.
    "TrendingPapersDigest/0.1.0 (+https://github.com/...; mailto:ops@example.org)"."""
    parts = [f"+{PROJECT_URL}"]
    contact = one_line(contact, 200)
    _, address = parseaddr(contact)
    if "@" in address:
        contact = address  # "Ops Team <ops@example.org>" -> ops@example.org
    # Header values must be ASCII; drop what is not, and our own delimiters.
    contact = contact.encode("ascii", "ignore").decode().translate(str.maketrans("", "", "();<> "))
    if contact:
        if "@" in contact and not contact.lower().startswith(("mailto:", "http")):
            contact = f"mailto:{contact}"
        parts.append(contact)
    return f"TrendingPapersDigest/{digest.__version__} ({'; '.join(parts)})"


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date);
    None when absent or unreadable. A date in the past means 0."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class _Retry(Exception):
    """An attempt failed in a way that another attempt may fix."""

    def __init__(self, reason: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class Fetcher:
    """One httpx client shared by all sources of a run. Not thread-safe.

    `retries` is the number of attempts after the first. `host_intervals` maps a
    host suffix ("arxiv.org" covers export.arxiv.org and rss.arxiv.org) to the
    minimum seconds between the end of one request and the start of the next.
    `sleep` and `clock` (monotonic seconds) are injectable for tests; `transport`
    lets tests route requests without a network.
    """

    def __init__(
        self,
        user_agent: str,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        max_retry_after: float = 120.0,
        max_bytes: int = MAX_BODY_BYTES,
        max_seconds: float = 300.0,
        host_intervals: Mapping[str, float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.BaseTransport | None = None,
    ):
        self.retries = max(0, retries)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.host_intervals = dict(
            DEFAULT_HOST_INTERVALS if host_intervals is None else host_intervals
        )
        self._sleep = sleep
        self._clock = clock
        self._last_request: dict[str, float] = {}
        self._client_options = {
            "headers": {"User-Agent": user_agent},
            "timeout": httpx.Timeout(read_timeout, connect=connect_timeout),
            "follow_redirects": True,
            "max_redirects": 5,
            "transport": transport,
            "event_hooks": {"response": [_refuse_downgrade]},
        }
        self._client = self._new_client()

    def _new_client(self) -> httpx.Client:
        return httpx.Client(**self._client_options)

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(
        self,
        url: str,
        params: Mapping[str, str | int] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResponse:
        """GET `url`; a 2xx or 304 comes back as a `FetchResponse`, anything
        else raises `FetchError` once retrying is pointless or exhausted."""
        request_headers = dict(headers or {})
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        try:
            request = self._client.build_request("GET", url, params=params, headers=request_headers)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise FetchError(f"{url}: invalid URL ({exc})", url=url) from None
        shown = one_line(str(request.url), 300)
        for attempt in range(1, self.retries + 2):
            try:
                return self._attempt(request, shown)
            except _Retry as retry:
                # A server asking for a longer pause than we allow will not
                # be ready sooner; give up now rather than retry in vain.
                if retry.retry_after is not None and retry.retry_after > self.max_retry_after:
                    reason = f"{retry.reason} (Retry-After {retry.retry_after:.0f} s is too long)"
                    raise FetchError(f"{shown}: {reason}", url=shown, status=retry.status) from None
                if attempt > self.retries:
                    reason = f"{retry.reason} after {attempt} attempts"
                    raise FetchError(f"{shown}: {reason}", url=shown, status=retry.status) from None
                self._sleep(self._delay(attempt, retry.retry_after))
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self.backoff * 2 ** (attempt - 1), self.max_backoff)
        if retry_after is not None:
            # Honour the server's pause, but never retry faster than our backoff.
            return min(max(retry_after, backoff), self.max_retry_after)
        return backoff

    def _attempt(self, request: httpx.Request, shown: str) -> FetchResponse:
        """One exchange, bounded in total by `max_seconds`: httpx's timeouts are
        per read, so a server that trickles its headers a byte at a time would
        otherwise hold us for days. Past the deadline the client is closed,
        which ends the blocked read, and a fresh one serves later requests."""
        host = request.url.host
        self._wait_for_host(host)
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch")
        try:
            future = worker.submit(self._exchange, request, shown)
            try:
                return future.result(timeout=self.max_seconds)
            except FuturesTimeout:
                self._client.close()
                self._client = self._new_client()
                reason = f"no complete response within {self.max_seconds:g} s"
                raise FetchError(f"{shown}: {reason}", url=shown) from None
        finally:
            worker.shutdown(wait=False)
            self._mark_host(host)

    def _exchange(self, request: httpx.Request, shown: str) -> FetchResponse:
        try:
            response = self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise _transport_problem(exc, shown) from None
        try:
            return self._read(response, shown)
        except httpx.HTTPError as exc:
            raise _transport_problem(exc, shown) from None
        finally:
            response.close()

    def _read(self, response: httpx.Response, shown: str) -> FetchResponse:
        status = response.status_code
        line = f"HTTP {status} {response.reason_phrase}".strip()
        if status == 304:
            return FetchResponse(str(response.url), status, response.headers)
        if status == 429 or status >= 500:
            wait = retry_after_seconds(response.headers.get("retry-after"), datetime.now(UTC))
            raise _Retry(line, status, wait)
        if status >= 300:
            # A 3xx still here was not followed (no Location, or a loop cut short).
            raise FetchError(f"{shown}: {line}", url=shown, status=status)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large(shown, status)
        started = self._clock()
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_large(shown, status)
            if self._clock() - started > self.max_seconds:
                raise FetchError(f"{shown}: body took longer than {self.max_seconds:.0f} s")
            chunks.append(chunk)
        return FetchResponse(str(response.url), status, response.headers, b"".join(chunks))

    def _too_large(self, shown: str, status: int) -> FetchError:
        limit = self.max_bytes / 1_000_000
        return FetchError(f"{shown}: body larger than {limit:g} MB", url=shown, status=status)

    def _interval_for(self, host: str) -> tuple[str, float] | None:
        for suffix, seconds in self.host_intervals.items():
            if host == suffix or host.endswith("." + suffix):
                return suffix, seconds
        return None

    def _wait_for_host(self, host: str) -> None:
        rule = self._interval_for(host)
        if rule is None:
            return
        suffix, seconds = rule
        last = self._last_request.get(suffix)
        if last is not None:
            wait = last + seconds - self._clock()
            if wait > 0:
                self._sleep(wait)

    def _mark_host(self, host: str) -> None:
        rule = self._interval_for(host)
        if rule is not None:
            self._last_request[rule[0]] = self._clock()


def _refuse_downgrade(response: httpx.Response) -> None:
    """Follow no redirect from https to plain http (it would leak the request
    and accept an unauthenticated answer)."""
    if response.is_redirect and response.request.url.scheme == "https":
        target = response.headers.get("location", "")
        if target.lower().startswith("http://"):
            raise httpx.UnsupportedProtocol(f"refused a redirect from https to {target[:200]}")


def _transport_problem(exc: httpx.HTTPError, shown: str) -> Exception:
    """Classify an httpx error: transient ones become `_Retry`, the rest a
    final `FetchError`."""
    detail = one_line(str(exc), 200)
    if isinstance(exc, httpx.ConnectTimeout):
        return _Retry("connect timeout")
    if isinstance(exc, httpx.ReadTimeout):
        return _Retry("read timeout")
    if isinstance(exc, httpx.TimeoutException):
        return _Retry("timeout")
    if isinstance(exc, httpx.ConnectError):
        return _Retry(f"connection failed ({detail})" if detail else "connection failed")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return _Retry(f"connection broken ({detail})" if detail else "connection broken")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return FetchError(f"{shown}: invalid URL ({detail})", url=shown)
    if isinstance(exc, httpx.TooManyRedirects):
        return FetchError(f"{shown}: too many redirects", url=shown)
    if isinstance(exc, httpx.DecodingError):
        return FetchError(f"{shown}: could not decode the body ({detail})", url=shown)
    return FetchError(f"{shown}: {type(exc).__name__} ({detail})", url=shown)
