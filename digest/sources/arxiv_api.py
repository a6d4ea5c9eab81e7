"""The arXiv API (export.arxiv.org/api/query, Atom): searches and backfills.

A search is built from `cfg.query` or `cfg.categories`, narrowed to the
submissions announced on a listing date when one is given (arXiv announces at
20:00 US Eastern what was submitted before the 14:00 cutoff of the previous
weekday); `cfg.ids` fetches given papers. Results are paged. Each paper keeps
the dates the API states for it, never the fetch time: its announcement date
when the search named one, else its first version's date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from digest.config import SourceConfig
from digest.http import Fetcher
from digest.papers import Paper, arxiv_abs_url, arxiv_pdf_url, parse_arxiv_id
from digest.sources.base import (
    FEED_ACCEPT,
    FetchState,
    Skip,
    SourceError,
    SourceResult,
    entry_date,
    feed_text,
    get,
    item_label,
    parse_items,
    read_feed,
    tag_terms,
    unique,
)
from digest.text import MAX_ABSTRACT, MAX_TITLE, author_list, one_line

PAGE_SIZE = 100


@dataclass
class Page:
    """One page of API results; `total` is the API's totalResults when stated."""

    papers: list[Paper]
    skipped: list[str]
    fetched: int
    total: int | None


EASTERN = ZoneInfo("America/New_York")
CUTOFF = time(14, 0)  # arXiv's daily submission deadline, US Eastern


def announcement_window(announced: date) -> tuple[datetime, datetime]:
    """The UTC submission window arXiv announced on `announced` (a weekday, US
    Eastern): from the cutoff two weekdays before to the cutoff on the weekday
    before. Holidays are not modelled (a listing after one spans more days)."""
    end_day = _previous_weekday(announced)
    start_day = _previous_weekday(end_day)
    start = datetime.combine(start_day, CUTOFF, EASTERN).astimezone(UTC)
    end = datetime.combine(end_day, CUTOFF, EASTERN).astimezone(UTC)
    return start, end


def announced_at(announced: date) -> datetime:
    """The announcement moment of a listing date: midnight US Eastern, as arXiv RSS dates it."""
    return datetime.combine(announced, time(0, 0), EASTERN).astimezone(UTC)


def _previous_weekday(day: date) -> date:
    day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def search_query(cfg: SourceConfig, listing_date: date | None) -> str | None:
    """The `search_query` for `cfg`: its query, else its categories OR-ed, and
    with `listing_date` only the submissions announced that day."""
    terms = cfg.query or " OR ".join(f"cat:{c}" for c in cfg.categories)
    if not terms:
        return None
    if listing_date is None:
        return terms
    start, end = (moment.strftime("%Y%m%d%H%M") for moment in announcement_window(listing_date))
    return f"({terms}) AND submittedDate:[{start} TO {end}]"


def parse(
    data: bytes, source_name: str, announced: date | None = None
) -> tuple[list[Paper], list[str], int]:
    """(papers, skipped reasons, entries fetched) from one API response;
    raises `SourceError` for a non-feed or the API's error entry. `announced`
    is the listing date the search asked for, which becomes `available_at`."""
    page = parse_page(data, source_name, announced)
    return page.papers, page.skipped, page.fetched


def parse_page(data: bytes, source_name: str, announced: date | None = None) -> Page:
    feed = read_feed(data, source_name)
    for entry in feed.entries:
        ident = entry.get("id") or ""
        # The API reports a bad query as one entry titled "Error" with an
        # errors URL for its id (and no arXiv id, unlike a paper named "Error").
        if "/api/errors" in ident or (entry.get("title") == "Error" and not parse_arxiv_id(ident)):
            reason = one_line(entry.get("summary"), 300) or "unknown error"
            raise SourceError(source_name, f"arXiv API error: {reason}")

    def label(index: int, entry: Any) -> str:
        return item_label(index, entry.get("id"), entry.get("title"))

    papers, skipped = parse_items(feed.entries, lambda e: _paper(e, source_name, announced), label)
    total = str(feed.channel.get("opensearch_totalresults") or "").strip()
    return Page(
        papers=papers,
        skipped=feed.problems + skipped,
        fetched=feed.delivered,
        total=int(total) if total.isdigit() else None,
    )


def _paper(entry: Any, source: str, announced: date | None) -> Paper:
    found = parse_arxiv_id(entry.get("id") or "")
    if found is None:
        raise Skip("no arXiv id in its id")
    base, version = found
    title = feed_text(entry, "title", MAX_TITLE)
    if not title:
        raise Skip("no title")
    primary = entry.get("arxiv_primary_category") or {}
    primary_term = one_line(primary.get("term"), 100) or None
    categories = unique(([primary_term] if primary_term else []) + tag_terms(entry))
    published = entry_date(entry, "published")
    return Paper(
        key=base,
        title=title,
        abstract=feed_text(entry, "summary", MAX_ABSTRACT),
        authors=author_list(a.get("name") for a in entry.get("authors") or []),
        categories=categories,
        primary_category=primary_term or (categories[0] if categories else None),
        arxiv_id=base,
        version=version,
        doi=one_line(entry.get("arxiv_doi"), 200) or None,
        published_at=published,
        updated_at=entry_date(entry, "updated"),
        # The paper's own date: its announcement when the search named the
        # listing day, else its first version (never the fetch time). The API
        # does not say new from replaced; merge keeps an earlier announcement.
        available_at=announced_at(announced) if announced else published,
        abs_url=arxiv_abs_url(base),
        # Unversioned, like the other sources: the link follows new versions.
        pdf_url=arxiv_pdf_url(base),
        sources=[source],
    )


def fetch(
    cfg: SourceConfig,
    fetcher: Fetcher,
    state: FetchState,
    listing_date: date | None,
    now: datetime,
    hf_token: str | None = None,
) -> SourceResult:
    """Page through the API up to `cfg.max_results` results. An empty result
    is fine; a bad query raises `SourceError` with the API's message."""
    query = search_query(cfg, listing_date)
    if query is None and not cfg.ids:
        raise SourceError(cfg.name, "an arxiv-api source needs query, categories or ids")
    limit = cfg.max_results if query else min(cfg.max_results, len(cfg.ids))
    papers: list[Paper] = []
    skipped: list[str] = []
    notes: list[str] = []
    fetched = 0
    for start in range(0, limit, PAGE_SIZE):
        size = min(PAGE_SIZE, limit - start)
        params: dict[str, str | int] = {"start": start, "max_results": size}
        if query:
            params |= {"search_query": query, "sortBy": "submittedDate", "sortOrder": "descending"}
        if cfg.ids:
            params["id_list"] = ",".join(cfg.ids)
        response = get(fetcher, cfg.name, cfg.url, params=params, headers={"Accept": FEED_ACCEPT})
        page = parse_page(response.content, cfg.name, listing_date if query else None)
        fetched += page.fetched
        papers += page.papers
        skipped += page.skipped
        if not page.fetched and page.total and start < page.total:
            # arXiv's API sometimes answers a page with nothing; say so.
            notes.append(f"the API returned an empty page at {start} of {page.total} results")
        if page.fetched < size or (page.total is not None and start + size >= page.total):
            break
    kept = {}
    for paper in papers:
        kept.setdefault(paper.key, paper)
    if len(kept) < len(papers):
        skipped.append(f"{len(papers) - len(kept)} papers listed on two pages, kept once")
    return SourceResult(list(kept.values()), skipped, fetched, FetchState(), notes=notes)
