"""What every source module shares: the result types, the error, and helpers
that turn untrusted feed bytes into checked values.

Contract of a source module: `parse(data, source_name, ...)` is pure (bytes in,
papers out) and `fetch(cfg, fetcher, state, listing_date, now, hf_token=None)`
does the HTTP and returns a `SourceResult`. A whole-source failure raises
`SourceError`; a bad item is skipped with a reason and the others are kept.
"""

from __future__ import annotations

import io
import logging
import re
import xml.sax
from calendar import timegm
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import feedparser

from digest.http import Fetcher, FetchError, FetchResponse
from digest.papers import Paper
from digest.text import one_line, strip_html

log = logging.getLogger(__name__)

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
EMPTY_LISTING_NOTE = "empty listing (weekend or holiday)"
NOT_MODIFIED_NOTE = "not modified since the last fetch"
MAX_CATEGORIES = 50
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_HTML_START = re.compile(rb"<(!doctype\s+html|html[\s>])", re.IGNORECASE)
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_CLOSED_DOCUMENT = re.compile(rb"</[\w:.\-]+>\s*$")

T = TypeVar("T")


@dataclass(frozen=True)
class FetchState:
    """The validators of a source's last successful fetch, sent back as a
    conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass
class SourceResult:
    """What one fetch of one source produced. `fetched` counts the items the
    source delivered; each skipped item has one reason in `skipped`. `state` is
    what to store for the next conditional GET (the previous one when the
    content was not taken). `notes` are informational lines for the report."""

    papers: list[Paper]
    skipped: list[str]
    fetched: int
    state: FetchState
    not_modified: bool = False
    notes: list[str] = field(default_factory=list)


class SourceError(Exception):
    """The whole source failed. `str()` is one readable line: "<source>: <reason>"."""

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = one_line(reason, 1000)
        super().__init__(f"{source}: {self.reason}")


class Skip(Exception):
    """Raised by an item parser: this item is unusable, for the given reason."""


def get(
    fetcher: Fetcher,
    source: str,
    url: str,
    *,
    params: Mapping[str, str | int] | None = None,
    state: FetchState | None = None,
    headers: Mapping[str, str] | None = None,
) -> FetchResponse:
    """`fetcher.get`, conditional when `state` is given; a `FetchError` becomes
    a `SourceError` for `source`."""
    state = state or FetchState()
    try:
        return fetcher.get(
            url,
            params=params,
            etag=state.etag,
            last_modified=state.last_modified,
            headers=headers,
        )
    except FetchError as exc:
        raise SourceError(source, str(exc)) from exc


def new_state(response: FetchResponse, previous: FetchState) -> FetchState:
    """Validators to keep after `response`; a 304 may omit them, so the
    previous ones stay unless replaced."""
    if response.not_modified:
        return FetchState(
            response.etag or previous.etag, response.last_modified or previous.last_modified
        )
    return FetchState(response.etag, response.last_modified)


def not_modified_result(response: FetchResponse, previous: FetchState) -> SourceResult:
    return SourceResult(
        papers=[],
        skipped=[],
        fetched=0,
        state=new_state(response, previous),
        not_modified=True,
        notes=[NOT_MODIFIED_NOTE],
    )


@dataclass
class FeedData:
    """A parsed feed: its channel fields, the items kept, problems worth
    reporting, and how many items the document delivered (kept or dropped)."""

    channel: Any
    entries: list[Any]
    problems: list[str]
    delivered: int


def read_feed(data: bytes, source: str) -> FeedData:
    """Parse RSS/Atom bytes with feedparser.

    Raises `SourceError` when `data` is not a feed: an empty body, an HTML page,
    XML that is no feed, or XML broken before the first item. When the XML
    breaks after some items, those are kept and the problem is reported; when
    the document was cut off, its last item is dropped too, as it may be partial.
    """
    if not data.strip():
        raise SourceError(source, "empty response body")
    # A stream, never bare bytes: feedparser opens bytes that name a local file.
    parsed = feedparser.parse(io.BytesIO(data))
    error = parsed.get("bozo_exception") if parsed.get("bozo") else None
    broken = isinstance(error, xml.sax.SAXException)
    entries = list(parsed.entries)
    if not entries:
        reason = _not_a_feed(data, bool(parsed.get("version")), error if broken else None)
        if reason:
            raise SourceError(source, reason)
    problems: list[str] = []
    if broken and entries:
        problems.append(f"feed XML is malformed ({_describe(error)}); kept the items before it")
        if not _CLOSED_DOCUMENT.search(data[-512:]):
            last = entries.pop()
            label = item_label(len(entries) + 1, last.get("id"), last.get("title"))
            problems.append(f"{label}: dropped, the feed is cut off inside or after it")
    return FeedData(parsed.feed, entries, problems, len(parsed.entries))


def _not_a_feed(data: bytes, is_feed: bool, xml_error: BaseException | None) -> str | None:
    """Why an item-less document is not a usable feed; None for a real, empty one."""
    if not is_feed and _HTML_START.search(data[:4096]):
        found = _HTML_TITLE.search(data[:4096])
        title = (
            one_line(strip_html(found.group(1).decode("utf-8", "replace")), 100) if found else ""
        )
        return "got an HTML page, not a feed" + (f" titled {title!r}" if title else "")
    if not is_feed and not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "the response is not an RSS or Atom feed (not XML)"
    if xml_error is not None:
        return f"malformed or truncated XML ({_describe(xml_error)})"
    if not is_feed:
        return "the response is not an RSS or Atom feed"
    return None


def _describe(error: BaseException) -> str:
    if isinstance(error, xml.sax.SAXParseException):
        return f"{error.getMessage()} at line {error.getLineNumber()}"
    return one_line(str(error), 200) or type(error).__name__


def utc_from_struct(value: Any) -> datetime | None:
    """A feedparser `*_parsed` value (a UTC struct_time) as an aware datetime."""
    if not value:
        return None
    try:
        return datetime.fromtimestamp(timegm(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def entry_date(entry: Mapping[str, Any], *keys: str) -> datetime | None:
    """The first readable date among `entry[key + "_parsed"]` for `keys`."""
    for key in keys:
        when = utc_from_struct(entry.get(f"{key}_parsed"))
        if when is not None:
            return when
    return None


def feed_text(entry: Mapping[str, Any], key: str, limit: int) -> str:
    """`entry[key]` as one capped line of plain text; markup is removed only when
    the feed marks the field as HTML (a plain-text `<script>` stays literal)."""
    value = entry.get(key)
    detail = entry.get(f"{key}_detail") or {}
    if detail.get("type") in _HTML_TYPES:
        value = strip_html(value)
    return one_line(value, limit)


def tag_terms(entry: Mapping[str, Any]) -> list[str]:
    """Category terms in feed order, cleaned and without duplicates."""
    terms = [one_line(tag.get("term"), 100) for tag in entry.get("tags") or []]
    return unique([t for t in terms if t])[:MAX_CATEGORIES]


def unique(values: Iterable[T]) -> list[T]:
    seen: set[T] = set()
    out = []
    for value in values:
        if value not in seen:
            seen.add(value)
            out.append(value)
    return out


def item_label(index: int, ident: Any, title: Any = None) -> str:
    """How a report names an item: its id, else its position and title."""
    ident = one_line(ident, 120) if isinstance(ident, str) else ""
    if ident:
        return ident
    title = one_line(title, 60) if isinstance(title, str) else ""
    return f"item {index}" + (f" ({title!r})" if title else "")


def parse_items(
    items: Iterable[T],
    parse_one: Callable[[T], Paper],
    label: Callable[[int, T], str],
) -> tuple[list[Paper], list[str]]:
    """Apply `parse_one` to each item; an item that raises `Skip` (or anything
    else: feed content must never crash a fetch) is skipped with a reason naming
    it. Later duplicates of a key are skipped too."""
    papers: list[Paper] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(items, 1):
        try:
            paper = parse_one(item)
        except Skip as exc:
            skipped.append(f"{label(index, item)}: {exc}")
            continue
        except Exception as exc:  # untrusted input; log the bug, keep the others
            log.warning("unreadable feed item %d", index, exc_info=True)
            skipped.append(f"{label(index, item)}: unreadable ({type(exc).__name__})")
            continue
        if paper.key in seen:
            skipped.append(f"{paper.key}: listed twice, kept the first")
            continue
        seen.add(paper.key)
        papers.append(paper)
    return papers, skipped
