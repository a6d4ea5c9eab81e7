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

import bisect
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Generic, NamedTuple, TypeVar

from sqlalchemy import Connection

from digest.papers import Paper
from digest.store.papers import candidate_papers

FIRST_EDITION_DAYS = 2
WINDOW_DAYS = {"daily": 7, "weekly": 14}
POOL_DAYS = max(WINDOW_DAYS.values())
CLOCK_MARGIN = timedelta(minutes=10)
T = TypeVar("T")


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


class Cut(NamedTuple):
    """`CandidatePool.cut`: the frequency whose window applies (None: a first
    edition, cut by the papers' own dates) and the position in the sorted pool
    the candidates start at."""

    frequency: str | None
    start: int


class CandidatePool:
    """The pool sorted once by when each paper reached us and by its own date,
    so a subscriber's candidates are found by bisection instead of a pass over
    the whole pool (tens of thousands of papers over a 14-day window).
    `candidates()` returns exactly what the module's `candidates()` does."""

    def __init__(self, pool: Iterable[Paper]) -> None:
        papers = list(pool)
        self.size = len(papers)
        # (moment, position in the pool, paper): results keep the pool's order.
        by_reach = sorted((_reach(p), i, p) for i, p in enumerate(papers) if _reach(p))
        by_date = sorted((_own_date(p), i, p) for i, p in enumerate(papers) if _own_date(p))
        self._reach = [moment for moment, _, _ in by_reach]
        self._reach_papers = [(i, p) for _, i, p in by_reach]
        self._date = [moment for moment, _, _ in by_date]
        self._date_papers = [(i, p) for _, i, p in by_date]

    def cut(self, *, frequency: str, previous_claim: datetime | None, now: datetime) -> Cut:
        """Where a subscriber's candidates begin in the sorted pool, as a key:
        two calls with the same cut (and the same `sent` and `now`) get the
        same candidates. Previous claims that fall between the same two
        arrivals make the same cut, so subscribers whose last editions were
        claimed at different moments of one run share it. (A first edition's
        window does not depend on the frequency; a later one's does.)"""
        if previous_claim is None:
            return Cut(
                None, bisect.bisect_right(self._date, now - timedelta(days=FIRST_EDITION_DAYS))
            )
        return Cut(frequency, bisect.bisect_right(self._reach, previous_claim - CLOCK_MARGIN))

    def candidates(
        self,
        *,
        frequency: str,
        previous_claim: datetime | None,
        sent: set[str],
        now: datetime,
    ) -> dict[str, Paper]:
        cut = self.cut(frequency=frequency, previous_claim=previous_claim, now=now)
        return self.at(cut, sent=sent, now=now)

    def at(self, cut: Cut, *, sent: set[str], now: datetime) -> dict[str, Paper]:
        """The candidates of every claim with this `cut` (see `cut()`)."""
        if cut.frequency is None:
            chosen = [(i, p) for i, p in self._date_papers[cut.start :] if p.key not in sent]
        else:
            dated_after = now - timedelta(days=WINDOW_DAYS[cut.frequency])
            chosen = [
                (i, p)
                for i, p in self._reach_papers[cut.start :]
                if p.key not in sent and _dated_after(p, dated_after)
            ]
        chosen.sort(key=_position)
        return {p.key: p for _, p in chosen}


def _reach(paper: Paper) -> datetime | None:
    """The latest of our clock's stamps: `_reached_after(p, m)` iff this > m."""
    return max((d for d in (paper.first_seen_at, paper.trending_seen_at) if d), default=None)


def _own_date(paper: Paper) -> datetime | None:
    """The latest of its own dates: `_dated_after(p, m)` iff this > m."""
    return max((d for d in (paper.available_at, paper.trending_at) if d), default=None)


def _position(item: tuple[int, Paper]) -> int:
    return item[0]


def arrival_order(papers: Iterable[Paper]) -> list[Paper]:
    """The papers in the order they reached us (never stamped first; ties keep
    their order), so that the ones a later edition could show are a tail of it."""
    return sorted(papers, key=_arrival_key)


def _arrival_key(paper: Paper) -> tuple[bool, datetime | None]:
    reach = _reach(paper)
    return (reach is not None, reach)


class ByArrival(Generic[T]):
    """A ranked list (any items, each about one paper) that can be cut, for one
    subscriber, to the items whose paper could be among their candidates — by
    bisection, in the list's order. Composing from the cut list gives the same
    digest as from the whole one (composition keeps only candidates anyway)
    while a daily subscriber's pass covers the day's papers, not the pool."""

    _MAX_CUTS = 64

    def __init__(self, items: Sequence[T], papers: Sequence[Paper | None]) -> None:
        self.items = list(items)
        reach = sorted((_reach(p), i) for i, p in enumerate(papers) if p and _reach(p))
        dated = sorted((_own_date(p), i) for i, p in enumerate(papers) if p and _own_date(p))
        self._reach, self._reach_at = [m for m, _ in reach], [i for _, i in reach]
        self._date, self._date_at = [m for m, _ in dated], [i for _, i in dated]
        # Subscribers whose previous claims fall between the same two arrivals
        # get the same cut: one list for all of them.
        self._cuts: dict[tuple[bool, int], list[T]] = {}

    def could_be_candidates(self, *, previous_claim: datetime | None, now: datetime) -> list[T]:
        """The cut, in the list's order; shared by the calls that make the same
        cut, so never modify it."""
        if previous_claim is None:
            after = now - timedelta(days=FIRST_EDITION_DAYS)
            cut = (False, bisect.bisect_right(self._date, after))
        else:
            cut = (True, bisect.bisect_right(self._reach, previous_claim - CLOCK_MARGIN))
        found = self._cuts.get(cut)
        if found is None:
            at = (self._reach_at if cut[0] else self._date_at)[cut[1] :]
            found = [self.items[i] for i in sorted(at)]
            if len(self._cuts) >= self._MAX_CUTS:
                self._cuts.clear()
            self._cuts[cut] = found
        return found
