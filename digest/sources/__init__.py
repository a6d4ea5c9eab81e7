"""Feed sources: one module per `kind`, each turning a listing into `Paper`s.

`fetch_source` is the one entry point the pipeline needs. Every module also has
a pure `parse(data, source_name, ...)` that works on bytes, for tests and the
bundled demo listings.
"""

from __future__ import annotations

from datetime import date, datetime
from types import ModuleType

from digest.config import SourceConfig
from digest.http import Fetcher
from digest.sources import arxiv_api, arxiv_rss, feed, hf_daily
from digest.sources.base import FetchState, SourceError, SourceResult

__all__ = ["KINDS", "FetchState", "SourceError", "SourceResult", "fetch_source"]

KINDS: dict[str, ModuleType] = {
    "arxiv-rss": arxiv_rss,
    "arxiv-api": arxiv_api,
    "hf-daily": hf_daily,
    "feed": feed,
}


def fetch_source(
    cfg: SourceConfig,
    fetcher: Fetcher,
    state: FetchState,
    listing_date: date | None,
    now: datetime,
    hf_token: str | None = None,
) -> SourceResult:
    """Fetch and parse one configured source.

    `state` holds the validators of the last stored fetch (conditional GET);
    `listing_date` is the source's own listing date (`digest fetch --date`);
    `now` is an aware datetime used where a source states no date. Raises
    `SourceError` when the whole source failed; bad items are only skipped.
    """
    module = KINDS.get(cfg.kind)
    if module is None:
        raise SourceError(cfg.name, f"unknown source kind {cfg.kind!r}")
    result: SourceResult = module.fetch(cfg, fetcher, state, listing_date, now, hf_token=hf_token)
    return result
