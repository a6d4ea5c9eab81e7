"""The arXiv API (export.arxiv.org/api/query, Atom): searches and backfills.

A search is built from `cfg.query` or `cfg.categories`, narrowed to one
submission date when a listing date is given; `cfg.ids` fetches given papers.
Results are paged. Each paper keeps the dates the API states for it, never the
fetch time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from digest.config import SourceConfig
from digest.http import Fetcher
from digest.papers import Paper, arxiv_abs_url, parse_arxiv_id
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
from digest.text import MAX_ABSTRACT, MAX_TITLE, author_list, one_line, safe_url

PAGE_SIZE = 100


@dataclass
class Page:
    """One page of API results; `total` is the API's totalResults when stated."""

    papers: list[Paper]
    skipped: list[str]
    fetched: int
    total: int | None


def search_query(cfg: SourceConfig, listing_date: date | None) -> str | None:
    """The `search_query` for `cfg`: its query, else its categories OR-ed, and
    with `listing_date` only papers submitted that day (arXiv's submittedDate)."""
    terms = cfg.query or " OR ".join(f"cat:{c}" for c in cfg.categories)
    if not terms:
        return None
    if listing_date is None:
        return terms
    day = listing_date.strftime("%Y%m%d")
    return f"({terms}) AND submittedDate:[{day}0000 TO {day}2359]"


def parse(data: bytes, source_name: str) -> tuple[list[Paper], list[str], int]:
    """(papers, skipped reasons, entries fetched) from one API response;
    raises `SourceError` for a non-feed or the API's error entry."""
    page = parse_page(data, source_name)
    return page.papers, page.skipped, page.fetched


def parse_page(data: bytes, source_name: str) -> Page:
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

    papers, skipped = parse_items(feed.entries, lambda e: _paper(e, source_name), label)
    total = str(feed.channel.get("opensearch_totalresults") or "").strip()
    return Page(
        papers=papers,
        skipped=feed.problems + skipped,
        fetched=feed.delivered,
        total=int(total) if total.isdigit() else None,
    )


def _paper(entry: Any, source: str) -> Paper:
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
    links = entry.get("links") or []
    pdf = next((link.get("href") for link in links if link.get("title") == "pdf"), None)
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
        # A first version's own date is its submission; later versions leave
        # the announcement date to whichever source saw it.
        available_at=published if version == 1 else None,
        abs_url=arxiv_abs_url(base),
        pdf_url=_https(safe_url(pdf)),
        sources=[source],
    )


def _https(url: str | None) -> str | None:
    if url and url.startswith("http://arxiv.org/"):
        return "https://" + url[len("http://") :]
    return url


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
        page = parse_page(response.content, cfg.name)
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
