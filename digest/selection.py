"""Which papers an edition may show (DESIGN.md "Candidates"), as pure functions
over a pool of papers loaded once per run.

- First edition: papers whose own date lies within the last 2 days.
- Later editions: papers that reached us (first stored, or first seen trending)
  after the previous edition was claimed, and whose own date lies within the
  window (7 days daily, 14 weekly).
- Minus every paper in the subscriber's sent log (by key, so versions and
  sources never resend). Papers first published before the retention period
  are never in the pool, so pruning the sent log cannot cause a resend.
All windows end at `now`, the moment the edition is claimed.

Our clock is compared with a margin: a fetch stamps papers just before its
transaction commits, and a send loads its pool just after it starts, so a paper
stamped a moment before the previous claim may have become visible only after
it. Looking `CLOCK_MARGIN` further back costs nothing (the sent log removes
what was shown) and closes that gap.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Connection

from digest.papers import Paper
from digest.store.papers import candidate_papers

FIRST_EDITION_DAYS = 2
WINDOW_DAYS = {"daily": 7, "weekly": 14}
POOL_DAYS = max(WINDOW_DAYS.values())
CLOCK_MARGIN = timedelta(minutes=10)


def load_pool(conn: Connection, *, now: datetime, retention_days: int) -> list[Paper]:
    """Every paper any edition claimed at `now` could show (the widest window)."""
    return candidate_papers(
        conn,
        seen_after=None,
        dated_after=now - timedelta(days=POOL_DAYS),
        published_after=now - timedelta(days=retention_days),
    )


def candidates(
    pool: Iterable[Paper],
    *,
    frequency: str,
    previous_claim: datetime | None,
    sent: set[str],
    now: datetime,
) -> dict[str, Paper]:
    """The subscriber's candidates, keyed by paper key."""
    if previous_claim is None:
        dated_after = now - timedelta(days=FIRST_EDITION_DAYS)
    else:
        dated_after = now - timedelta(days=WINDOW_DAYS[frequency])
    chosen = {}
    for paper in pool:
        if paper.key in sent or not _dated_after(paper, dated_after):
            continue
        if previous_claim is not None and not _reached_after(paper, previous_claim - CLOCK_MARGIN):
            continue
        chosen[paper.key] = paper
    return chosen


def _dated_after(paper: Paper, after: datetime) -> bool:
    # No upper bound: a paper we have stored has reached us, whatever its date says.
    return any(d is not None and d > after for d in (paper.available_at, paper.trending_at))


def _reached_after(paper: Paper, moment: datetime) -> bool:
    return any(d is not None and d > moment for d in (paper.first_seen_at, paper.trending_seen_at))
