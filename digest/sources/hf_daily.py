"""Hugging Face daily papers (GET /api/daily_papers?date=YYYY-MM-DD&limit=N&p=PAGE).

The list is JSON; every item is an arXiv paper (`paper.id` is its base id) with
community signals: upvotes, comments, a GitHub repository and its stars, and a
thumbnail image (top-level `thumbnail`, kept only when it is a clean https URL). A
paper's `trending_at` is its `submittedOnDailyAt`, else the list's date; its
`available_at` is left to merge (arXiv's announcement wins when seen).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, time
from typing import Any

from digest.config import SourceConfig
from digest.http import Fetcher
from digest.papers import Paper, arxiv_abs_url, arxiv_pdf_url, parse_arxiv_id
from digest.sources.base import (
    FetchState,
    Skip,
    SourceError,
    SourceResult,
    get,
    item_label,
    parse_items,
)
from digest.text import (
    MAX_ABSTRACT,
    MAX_KEYWORD,
    MAX_KEYWORDS,
    MAX_SUMMARY,
    MAX_TITLE,
    author_list,
    one_line,
    safe_image_url,
    safe_url,
)

log = logging.getLogger(__name__)

HF_PAPERS = "https://huggingface.co/papers/"
MAX_COUNT = 10**9  # larger "counts" are nonsense and would overflow a column


def parse(data: bytes, source_name: str, list_date: date) -> tuple[list[Paper], list[str], int]:
    """(papers, skipped reasons, items fetched) from one page of the list
    requested for `list_date`. Raises `SourceError` when the body is not a JSON
    list; an item without `paper.id` or title is skipped; a field of the wrong
    type is ignored."""
    try:
        items = json.loads(data)
    except (ValueError, RecursionError) as exc:
        reason = "empty response body" if not data.strip() else f"invalid JSON ({exc})"
        raise SourceError(source_name, reason) from None
    if not isinstance(items, list):
        kind = type(items).__name__
        raise SourceError(source_name, f"expected a JSON list of papers, got {kind}")
    listed = datetime.combine(list_date, time(), UTC)

    def label(index: int, item: Any) -> str:
        paper = _dict(item.get("paper")) if isinstance(item, dict) else {}
        return item_label(index, paper.get("id"), paper.get("title"))

    papers, skipped = parse_items(items, lambda item: _paper(item, source_name, listed), label)
    return papers, skipped, len(items)


def _paper(item: Any, source: str, listed: datetime) -> Paper:
    if not isinstance(item, dict):
        raise Skip(f"not an object ({type(item).__name__})")
    paper = _dict(item.get("paper"))
    ident = paper.get("id")
    found = parse_arxiv_id(ident) if isinstance(ident, str) else None
    if found is None:
        raise Skip("no arXiv id in paper.id")
    base = found[0]
    title = one_line(_str(item.get("title")) or _str(paper.get("title")), MAX_TITLE)
    if not title:
        raise Skip("no title")
    summary = _str(item.get("summary")) or _str(paper.get("summary"))
    authors = paper.get("authors") if isinstance(paper.get("authors"), list) else []
    keywords = paper.get("ai_keywords") if isinstance(paper.get("ai_keywords"), list) else []
    return Paper(
        key=base,
        title=title,
        abstract=one_line(summary, MAX_ABSTRACT),
        authors=author_list(_str(_dict(a).get("name")) for a in authors),
        arxiv_id=base,
        published_at=_when(paper.get("publishedAt")),
        trending_at=_when(paper.get("submittedOnDailyAt")) or listed,
        abs_url=arxiv_abs_url(base),
        pdf_url=arxiv_pdf_url(base),
        hf_url=HF_PAPERS + base,
        code_url=safe_url(_str(paper.get("githubRepo"))),
        project_url=safe_url(_str(paper.get("projectPage"))),
        thumbnail_url=safe_image_url(_str(item.get("thumbnail"))),
        upvotes=_count(paper, "upvotes", base),
        comments=_count(item, "numComments", base),
        github_stars=_count(paper, "githubStars", base),
        ai_summary=one_line(_str(paper.get("ai_summary")), MAX_SUMMARY) or None,
        ai_keywords=[k for k in (one_line(_str(k), MAX_KEYWORD) for k in keywords) if k][
            :MAX_KEYWORDS
        ],
        sources=[source],
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _count(data: dict[str, Any], key: str, base: str) -> int | None:
    """A non-negative integer field; anything else is ignored (logged)."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT:
        return value
    log.info("%s: ignored %s=%.40r (not a count)", base, key, value)
    return None


def _when(value: Any) -> datetime | None:
    """An ISO 8601 timestamp as an aware UTC datetime; naive ones are UTC."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def fetch(
    cfg: SourceConfig,
    fetcher: Fetcher,
    state: FetchState,
    listing_date: date | None,
    now: datetime,
    hf_token: str | None = None,
) -> SourceResult:
    """Fetch the list for `listing_date` (default: `now`'s UTC date), page by
    page until a short or empty page or `cfg.max_pages`."""
    list_date = listing_date or now.astimezone(UTC).date()
    headers = {"Accept": "application/json"}
    if hf_token:
        headers["Authorization"] = f"Bearer {hf_token}"
    papers: list[Paper] = []
    skipped: list[str] = []
    fetched = 0
    seen: set[str] = set()
    for page in range(cfg.max_pages):
        params = {"date": list_date.isoformat(), "limit": cfg.limit, "p": page}
        response = get(fetcher, cfg.name, cfg.url, params=params, headers=headers)
        page_papers, page_skipped, count = parse(response.content, cfg.name, list_date)
        fetched += count
        skipped += page_skipped
        for paper in page_papers:
            if paper.key in seen:
                # The list can shift between page requests.
                skipped.append(f"{paper.key}: listed on two pages, kept the first")
            else:
                seen.add(paper.key)
                papers.append(paper)
        if count < cfg.limit:
            break
    return SourceResult(papers, skipped, fetched, FetchState())
