"""Any RSS or Atom feed: a journal's table of contents, bioRxiv, a lab's blog.

An item keys on its arXiv id when it names an arXiv paper (an arXiv link, an
arXiv DOI, a Hugging Face paper page: `digest.sources.arxiv_refs`), else on its DOI
(`doi:<doi>`, lower-cased: DOIs are case-insensitive), else on its link
(`url:<link>`). It is dated by its own published or updated date, else by the
fetch time.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from digest.config import SourceConfig
from digest.http import Fetcher
from digest.papers import Paper, arxiv_abs_url, arxiv_pdf_url
from digest.sources.arxiv_refs import arxiv_ref
from digest.sources.base import (
    FEED_ACCEPT,
    FetchState,
    Skip,
    SourceResult,
    entry_date,
    feed_text,
    get,
    item_label,
    new_state,
    not_modified_result,
    parse_items,
    read_feed,
    tag_terms,
)
from digest.text import MAX_ABSTRACT, MAX_TITLE, author_list, safe_url

_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"'<>]+)")


def parse(data: bytes, source_name: str, now: datetime) -> tuple[list[Paper], list[str], int]:
    """(papers, skipped reasons, items fetched) from feed bytes; raises
    `SourceError` when `data` is not a feed. `now` dates undated items."""
    feed = read_feed(data, source_name)

    def label(index: int, entry: Any) -> str:
        return item_label(index, entry.get("id") or entry.get("link"), entry.get("title"))

    papers, skipped = parse_items(feed.entries, lambda e: _paper(e, source_name, now), label)
    return papers, feed.problems + skipped, feed.delivered


def find_doi(entry: Any) -> str | None:
    """The item's DOI from prism:doi, dc:identifier, a doi.org link or its guid."""
    candidates = [entry.get("prism_doi"), entry.get("dc_identifier"), entry.get("id")]
    candidates += [
        link.get("href")
        for link in entry.get("links") or []
        if "doi.org/" in (link.get("href") or "")
    ]
    for candidate in candidates:
        if not isinstance(candidate, str):
            continue
        text = candidate.strip()
        if text.lower().startswith("doi:") or "doi.org/" in text or text.startswith("10."):
            match = _DOI.search(text)
            if match:
                return match.group(1).rstrip(".,;)")[:200]
    return None


def _arxiv_id(entry: Any) -> tuple[str, int | None] | None:
    """The arXiv id of an item that names an arXiv paper: its link (arXiv abs,
    pdf or html, or a Hugging Face paper page), its guid (an arXiv OAI id, URL
    or DOI), or its DOI (`10.48550/arXiv.<id>` in prism:doi, dc:identifier or
    a doi.org link)."""
    candidates = [safe_url(entry.get("link")), entry.get("id")]
    candidates += [entry.get("prism_doi"), entry.get("dc_identifier")]
    candidates += [link.get("href") for link in entry.get("links") or [] if _is_doi_link(link)]
    for candidate in candidates:
        found = arxiv_ref(candidate)
        if found:
            return found
    return None


def _is_doi_link(link: Any) -> bool:
    return "doi.org/" in (link.get("href") or "")


def _paper(entry: Any, source: str, now: datetime) -> Paper:
    title = feed_text(entry, "title", MAX_TITLE)
    if not title:
        raise Skip("no title")
    link = safe_url(entry.get("link"))
    arxiv = _arxiv_id(entry)
    doi = find_doi(entry)
    if arxiv:
        key = arxiv[0]
    elif doi:
        key = f"doi:{doi.lower()}"
    elif link:
        key = f"url:{link}"
    else:
        raise Skip("no arXiv id, DOI or link")
    published = entry_date(entry, "published")
    updated = entry_date(entry, "updated")
    categories = tag_terms(entry)
    return Paper(
        key=key,
        title=title,
        abstract=feed_text(entry, "summary", MAX_ABSTRACT),
        authors=author_list(a.get("name") for a in entry.get("authors") or []),
        categories=categories,
        primary_category=categories[0] if categories else None,
        arxiv_id=arxiv[0] if arxiv else None,
        version=arxiv[1] if arxiv else None,
        doi=doi,
        published_at=published,
        updated_at=updated,
        available_at=published or updated or now,
        abs_url=arxiv_abs_url(arxiv[0]) if arxiv else link,
        pdf_url=arxiv_pdf_url(arxiv[0]) if arxiv else None,
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
    """Fetch the feed conditionally and parse it. A feed has no listing date, so
    `listing_date` is ignored (its items carry their own dates)."""
    response = get(fetcher, cfg.name, cfg.url, state=state, headers={"Accept": FEED_ACCEPT})
    if response.not_modified:
        return not_modified_result(response, state)
    papers, skipped, fetched = parse(response.content, cfg.name, now)
    notes = ["the feed has no items"] if fetched == 0 else []
    return SourceResult(papers, skipped, fetched, new_state(response, state), notes=notes)
