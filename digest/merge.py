"""Fold one source's view of a paper into the stored record (pure).

Rules (DESIGN.md "Paper times" and issue #2):
- one record per key across sources and versions;
- a newer version replaces the text fields and bumps `version`/`updated_at`,
  and never moves `available_at`;
- counts (upvotes, comments, stars) from the latest fetch replace older ones;
- a field a source lacks never erases what another source gave;
- `available_at` is the arXiv new/cross announcement, or the Hugging Face
  listing when no arXiv announcement was ever seen; a replacement alone never
  makes a paper available;
- `first_seen_at` is set once; `trending_seen_at` moves when a fetch first sees
  a later trending listing than the stored one, or sees more upvotes than the
  count stored (a paper that trends late in the day reaches the next editions;
  the sent log still keeps it from coming twice).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from digest.papers import Paper

NEW_TYPES = ("new", "cross")
_CLOCK_FIELDS = ("changed_at",)
# Fields a newer version (or a source with text where we had none) supplies.
_TEXT_FIELDS = ("title", "abstract", "authors", "categories", "primary_category")
_LATEST_WINS = (
    "doi",
    "abs_url",
    "pdf_url",
    "hf_url",
    "code_url",
    "project_url",
    "thumbnail_url",
    "upvotes",
    "comments",
    "github_stars",
    "ai_summary",
)


def merge(existing: Paper | None, item: Paper, now: datetime) -> tuple[Paper, bool]:
    """Return (merged record, whether anything changed). `item` is not modified."""
    if existing is None:
        merged = dataclasses.replace(item, authors=list(item.authors))
        merged.first_seen_at = now
        merged.available_at = _announcement(item)
        if merged.trending_at is not None:
            merged.trending_seen_at = now
            if merged.available_at is None:
                merged.available_at = merged.trending_at
        merged.changed_at = now
        return merged, True

    merged = dataclasses.replace(existing)
    newer_version = (item.version or 0) > (existing.version or 0)
    for name in _TEXT_FIELDS:
        value = getattr(item, name)
        if value and (newer_version or not getattr(existing, name)):
            setattr(merged, name, value)
    for name in _LATEST_WINS:
        value = getattr(item, name)
        if value not in (None, ""):
            setattr(merged, name, value)
    if item.ai_keywords:
        merged.ai_keywords = list(item.ai_keywords)
    merged.arxiv_id = existing.arxiv_id or item.arxiv_id
    merged.version = max(filter(None, (existing.version, item.version)), default=None)
    merged.updated_at = _latest(existing.updated_at, item.updated_at)
    merged.published_at = _earliest(existing.published_at, item.published_at)
    if existing.announce_type not in NEW_TYPES and item.announce_type:
        merged.announce_type = item.announce_type
    merged.available_at = _available(existing, item)
    if item.trending_at and (
        existing.trending_at is None or item.trending_at > existing.trending_at
    ):
        merged.trending_at = item.trending_at
        merged.trending_seen_at = now
    elif _upvotes_rose(existing, item):
        merged.trending_seen_at = now
    merged.sources = existing.sources + [s for s in item.sources if s not in existing.sources]
    changed = _differs(existing, merged)
    if changed:
        merged.changed_at = now
    return merged, changed


def is_available(paper: Paper) -> bool:
    """A paper that can appear in editions (not a replacement-only record)."""
    return paper.available_at is not None or paper.trending_at is not None


def _announcement(item: Paper) -> datetime | None:
    if item.announce_type in NEW_TYPES or item.announce_type is None:
        return item.available_at
    return None  # replace / replace-cross: not a new paper


def _available(existing: Paper, item: Paper) -> datetime | None:
    announced = _announcement(item)
    if announced is not None:
        if existing.announce_type in NEW_TYPES and existing.available_at is not None:
            return existing.available_at  # the first announcement stands
        # An arXiv announcement outranks a Hugging Face listing date.
        return announced
    if existing.available_at is None and item.trending_at is not None:
        return item.trending_at
    return existing.available_at


def _upvotes_rose(existing: Paper, item: Paper) -> bool:
    return (
        existing.trending_at is not None
        and item.upvotes is not None
        and item.upvotes > (existing.upvotes or 0)
    )


def _differs(a: Paper, b: Paper) -> bool:
    return any(
        getattr(a, f.name) != getattr(b, f.name)
        for f in dataclasses.fields(Paper)
        if f.name not in _CLOCK_FIELDS
    )


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((d for d in (a, b) if d is not None), default=None)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min((d for d in (a, b) if d is not None), default=None)
