"""`digest fetch`: gather each source's listing and merge it into the papers.

One source failing never stops the others: its error is recorded and reported,
and the run's exit status says something failed. Each source's papers are
stored in one transaction together with its fetch state, so a crash leaves
either the whole listing or none of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Engine

from digest.config import Settings, SourceConfig
from digest.http import Fetcher, FetchError
from digest.sources import FetchState, SourceError, SourceResult, fetch_source
from digest.store.fetch_state import load_state, record_attempt
from digest.store.papers import upsert_papers

log = logging.getLogger(__name__)


@dataclass
class SourceReport:
    name: str
    fetched: int = 0
    new: int = 0
    updated: int = 0
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    not_modified: bool = False

    def as_dict(self) -> dict:
        return {
            "fetched": self.fetched,
            "new": self.new,
            "updated": self.updated,
            "skipped": len(self.skipped),
            "not_modified": self.not_modified,
        }


def select_sources(settings: Settings, names: list[str] | None) -> list[SourceConfig]:
    """The sources to fetch: the named ones (ConfigError for an unknown name), or
    every enabled one."""
    if names:
        return [settings.source(name) for name in names]
    return [s for s in settings.sources if s.enabled]


def fetch_all(
    engine: Engine,
    settings: Settings,
    fetcher: Fetcher,
    sources: list[SourceConfig],
    *,
    now: datetime,
    listing_date: date | None = None,
) -> list[SourceReport]:
    hf_token = settings.hf_token.get_secret_value() if settings.hf_token else None
    return [
        fetch_one(engine, fetcher, source, now=now, listing_date=listing_date, hf_token=hf_token)
        for source in sources
    ]


def fetch_one(
    engine: Engine,
    fetcher: Fetcher,
    source: SourceConfig,
    *,
    now: datetime,
    listing_date: date | None,
    hf_token: str | None,
) -> SourceReport:
    report = SourceReport(source.name)
    with engine.begin() as conn:
        stored = load_state(conn, source.name)
    # Validators belong to the latest listing's URL; a --date fetch asks afresh.
    state = (
        FetchState(stored.get("etag"), stored.get("last_modified"))
        if listing_date is None
        else FetchState(None, None)
    )
    try:
        result = fetch_source(
            source, fetcher, state, listing_date=listing_date, now=now, hf_token=hf_token
        )
        # Stamp papers when they are stored, not when the fetch began: a send that
        # claims in between must not count them as already seen.
        stored_at = max(now, datetime.now(UTC))
        store_result(
            engine, source.name, result, report, now=stored_at, keep_validators=listing_date is None
        )
    except (SourceError, FetchError) as exc:
        report.error = str(exc)
    except Exception as exc:  # noqa: BLE001 - one source's bug must not stop the others
        log.exception("source %s failed unexpectedly", source.name)
        report.error = f"{source.name}: unexpected {type(exc).__name__}: {exc}"
    if report.error:
        with engine.begin() as conn:
            record_attempt(conn, source.name, now=now, error=report.error, report=report.as_dict())
    return report


def store_result(
    engine: Engine,
    name: str,
    result: SourceResult,
    report: SourceReport,
    *,
    now: datetime,
    keep_validators: bool = True,
) -> SourceReport:
    """Merge a source's papers and record its state, in one transaction."""
    report.fetched = result.fetched
    report.skipped = list(result.skipped)
    report.notes = list(result.notes)
    report.not_modified = result.not_modified
    with engine.begin() as conn:
        report.new, report.updated = upsert_papers(conn, result.papers, now)
        validators = (result.state.etag, result.state.last_modified)
        record_attempt(
            conn,
            name,
            now=now,
            error=None,
            report=report.as_dict(),
            validators=validators if keep_validators else None,
        )
    return report
