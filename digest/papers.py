"""The plain data every stage passes around: one paper, as a source saw it or merged.

A source turns its feed into `Paper` records (one source's view); `digest.merge`
folds them into the stored record. Dates are timezone-aware UTC datetimes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

# New-style arXiv ids (0704.0001 onwards) and old-style ones (hep-th/9901001).
_NEW_ID = re.compile(r"(?<![\w.])(\d{4}\.\d{4,5})(?:v(\d+))?(?![\d])")
_OLD_ID = re.compile(r"(?<![\w.])([a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})(?:v(\d+))?(?![\d])")

ANNOUNCE_TYPES = ("new", "cross", "replace", "replace-cross")


@dataclass
class Paper:
    """One paper. `key` is its identity: the arXiv base id (no version), else
    `doi:<doi>`, else `url:<link>`. Fields a source does not know stay None/empty
    so that merging never erases what another source gave."""

    key: str
    title: str
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    # Primary category first when it is known.
    categories: list[str] = field(default_factory=list)
    primary_category: str | None = None
    arxiv_id: str | None = None
    version: int | None = None
    doi: str | None = None
    # The paper's own dates.
    published_at: datetime | None = None  # first version
    updated_at: datetime | None = None  # this (latest) version
    available_at: datetime | None = None  # its new/cross announcement (or HF listing)
    trending_at: datetime | None = None  # its latest Hugging Face daily-list date
    # Our clock: when a fetch first stored it / first saw its latest trending listing.
    first_seen_at: datetime | None = None
    trending_seen_at: datetime | None = None
    # Links.
    abs_url: str | None = None
    pdf_url: str | None = None
    hf_url: str | None = None
    code_url: str | None = None
    project_url: str | None = None
    # An image of the paper (Hugging Face's thumbnail): https only; web pages
    # show it, emails never do (no remote images in digests).
    thumbnail_url: str | None = None
    # Signals.
    upvotes: int | None = None
    comments: int | None = None
    github_stars: int | None = None
    ai_summary: str | None = None
    ai_keywords: list[str] = field(default_factory=list)
    # Names of the configured sources that saw it.
    sources: list[str] = field(default_factory=list)
    # How this source announced it (arXiv RSS: new, cross, replace, replace-cross).
    # Not stored; merge uses it to tell new papers from replacements.
    announce_type: str | None = None
    changed_at: datetime | None = None

    @property
    def is_cross_list(self) -> bool:
        return self.announce_type in ("cross", "replace-cross")


def parse_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """Find an arXiv id in `text` (an id, an abs/pdf URL, an OAI guid) and return
    (base id, version or None); None when there is none."""
    for pattern in (_NEW_ID, _OLD_ID):
        match = pattern.search(text or "")
        if match:
            version = int(match.group(2)) if match.group(2) else None
            return match.group(1), version
    return None


def arxiv_abs_url(base_id: str) -> str:
    return f"https://arxiv.org/abs/{base_id}"


def arxiv_pdf_url(base_id: str) -> str:
    return f"https://arxiv.org/pdf/{base_id}"
