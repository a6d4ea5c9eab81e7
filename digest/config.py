"""Configuration: a TOML file overlaid by environment variables (DESIGN.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SOURCE_KINDS = ("arxiv-rss", "arxiv-api", "hf-daily", "feed")


class SourceConfig(BaseModel):
    """One `[[sources]]` entry.

    `kind` picks the module under `digest.sources`. The optional fields are used
    by the kinds that need them: `query`/`categories`/`ids`/`max_results` by
    `arxiv-api`, `limit` (page size) and `max_pages` by `hf-daily`.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    kind: Literal["arxiv-rss", "arxiv-api", "hf-daily", "feed"]
    url: str = Field(pattern=r"^https?://")
    enabled: bool = True
    categories: list[str] = Field(default_factory=list)
    query: str | None = None
    ids: list[str] = Field(default_factory=list)
    max_results: int = Field(default=200, ge=1, le=2000)
    limit: int = Field(default=100, ge=1, le=1000)
    max_pages: int = Field(default=10, ge=1, le=100)
