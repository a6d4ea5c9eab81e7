"""Building editions: who is due, what their digest holds, and the claim.

`Planner` holds what one run shares across subscribers: the candidate pool
(loaded once), each topic's ranking (computed once per run, so once per
edition date), and the clock. `plan()` is pure given those; `digest.claims`
claims what it plans.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from sqlalchemy import Connection

from digest.compose import Eligible, Eligibles, compose_digest, eligibility
from digest.digests import Digest, Entry, Section
from digest.papers import Paper
from digest.periods import (
    current_period,
    delivery_moment,
    due,
    latest_period,
    parse_period,
    period_for_date,
)
from digest.preferences import Preferences
from digest.ranking import Ranked, RankingIndex, TopicRanking, rank_topic
from digest.received import Received
from digest.selection import (
    FIRST_EDITION_DAYS,
    POOL_DAYS,
    ByArrival,
    CandidatePool,
    Cut,
    arrival_order,
    load_pool,
)
from digest.store import editions as edition_store
from digest.store.edition_claims import History, histories
from digest.store.subscribers import Subscriber
from digest.topics import INTERESTS_SLUG, custom_topic, get_topic, load_catalog

log = logging.getLogger(__name__)

# How far back a released claim's gap is looked for: past the widest window,
# its papers could not be candidates anyway (a day more for the clock margins).
# Editions claimed before it count as one stretch (`floor_from`). Planning a
# batch reads every edition claimed since (`edition_claims.histories`): the
# horizon is what a daily reader's history costs each day.
GAP_HORIZON = timedelta(days=POOL_DAYS + 1)
# Plans a run keeps (Planner.plan), least recently used dropped: those with
# nothing sent (`plan_shared`) and the replans, up to 20,000 of each kind.
SHARED_PLANS = 40_000
# Candidates lists a run keeps (Planner.candidates), one per cut: a handful in
# a day's run, where every edition before was claimed by a few runs.
UNSENT_CUTS = 256
# Eligible lists of catalog topics a run keeps (Planner._shared_eligible): one
# per topic, cut, floor and mute list in use.
SHARED_ELIGIBLE = 4096


@dataclass
class Planned:
    subscriber: Subscriber
    period: str
    digest: Digest
    edition_id: int | None = None
    # The moment the candidates counted from (None: a first edition).
    previous_claim: datetime | None = None

    @property
    def empty(self) -> bool:
        return self.digest.paper_count == 0


@dataclass
class Planner:
    pool: list[Paper]
    now: datetime
    _rankings: dict[str, list[Ranked]] = field(default_factory=dict)
    _index: RankingIndex | None = None
    _candidates: CandidatePool | None = None
    _interests: dict[tuple, list[Ranked]] = field(default_factory=dict)
    _arrivals: dict[int, tuple[list[Ranked], ByArrival[Ranked]]] = field(default_factory=dict)
    _papers: dict[str, Paper] | None = None
    _plans: dict[tuple, Digest] = field(default_factory=dict)
    _unsent: dict[Cut, dict[str, Paper]] = field(default_factory=dict)
    _eligible: dict[tuple, Eligibles] = field(default_factory=dict)
    # What subscribers have received, by digest id (digest.received).
    received: Received = field(default_factory=Received)

    @property
    def index(self) -> RankingIndex:
        """The pool tokenised and stemmed once, shared by every topic's ranking;
        in the order papers reached us, so the papers a subscriber could be
        shown are mostly one stretch of it (see `_narrowed`)."""
        if self._index is None:
            self._index = RankingIndex(arrival_order(self.pool))
        return self._index

    @classmethod
    def load(cls, conn: Connection, *, now: datetime, retention_days: int) -> Planner:
        return cls(load_pool(conn, now=now, retention_days=retention_days), now)

    def warm(self) -> None:
        """Build now what every plan of the run shares, rather than on first
        use: the candidate pool, the ranking index and every catalog topic's
        ranking. A send shared by several processes builds them once, before
        it forks."""
        self.pool_index  # noqa: B018 - built on first access
        for slug in load_catalog():
            self.ranking(slug)

    def ranking(self, slug: str) -> list[Ranked]:
        if slug not in self._rankings:
            self._rankings[slug] = rank_topic(get_topic(slug), self.index, self.now)
        return self._rankings[slug]

    def rankings_for(self, subscriber: Subscriber) -> dict[str, Sequence[Ranked]]:
        """Rankings of the subscriber's topics. A topic the catalog no longer has
        is skipped (and logged) rather than failing everyone's send. Custom
        interests are a `TopicRanking`: ranked over the whole pool only if read
        whole, `_narrowed` ranks just the subscriber's possible candidates."""
        prefs = subscriber.prefs
        catalog = load_catalog()
        ranked: dict[str, Sequence[Ranked]] = {}
        for choice in prefs.topics:
            if choice.slug in catalog:
                ranked[choice.slug] = self.ranking(choice.slug)
            else:
                log.warning("subscriber %s: unknown topic %r skipped", subscriber.id, choice.slug)
        interests = custom_topic(prefs)
        if interests is not None:
            # One per distinct set of interests (mostly one subscriber's own).
            key = (interests.keywords, interests.categories, interests.authors)
            if key not in self._interests:
                self._interests[key] = TopicRanking(interests, self.index, self.now)
            ranked[interests.slug] = self._interests[key]
        return ranked

    def plan(
        self,
        subscriber: Subscriber,
        period: str,
        *,
        previous_claim: datetime | None,
        sent: set[str],
    ) -> Planned:
        """The subscriber's digest for `period` from their candidates, made
        once per run for every subscriber with the same digest preferences,
        period, cut (`cut()`) and sent candidates: it depends on `sent` only
        through the candidates it removes (readers of the same topics mostly
        received the same papers, so a paper trending again sends many of
        them back to planning with the same set). The `SHARED_PLANS` most
        recently used are kept (memory stays bounded however long the list;
        a popular plan stays)."""
        prefs = subscriber.prefs
        removed: frozenset[str] = frozenset()
        if sent:
            unsent = self.candidates(prefs.frequency, previous_claim, set())
            removed = frozenset(key for key in sent if key in unsent)
        key = (
            digest_preferences(prefs),
            period,
            self.cut(prefs.frequency, previous_claim),
            removed,
        )
        digest = recently_used(
            self._plans,
            key,
            lambda: self._plan(subscriber, period, previous_claim=previous_claim, sent=sent).digest,
            SHARED_PLANS,
        )
        return Planned(subscriber, period, digest, previous_claim=previous_claim)

    def _plan(
        self,
        subscriber: Subscriber,
        period: str,
        *,
        previous_claim: datetime | None,
        sent: set[str],
    ) -> Planned:
        prefs = subscriber.prefs
        chosen = self.candidates(prefs.frequency, previous_claim, sent)
        eligible = eligibility(prefs, chosen)
        if not sent:
            eligible = self._shared_eligible(
                prefs, self.cut(prefs.frequency, previous_claim), eligible
            )
        digest = compose_digest(
            prefs,
            self._narrowed(self.rankings_for(subscriber), previous_claim),
            chosen,
            period=period,
            edition_date=parse_period(period)[1],
            frequency=prefs.frequency,
            eligible=eligible,
        )
        return Planned(subscriber, period, digest, previous_claim=previous_claim)

    def _shared_eligible(self, prefs: Preferences, cut: Cut, eligible: Eligible) -> Eligible:
        """`eligible` (the subscriber's `compose.eligibility` over the cut's
        candidates with nothing sent) with a catalog topic's lists shared by the
        run: such a list depends only on the topic's narrowed ranking and the
        candidates (both fixed by the cut), the section's minimum upvotes, the
        cross-lists flag and the mute list. Custom interests are one
        subscriber's own and are filtered afresh. The `SHARED_ELIGIBLE` most
        recently used lists are kept."""
        flags = (prefs.cross_lists, tuple(m for m in prefs.mute if m.strip()))

        def shared(slug: str, ranking: Sequence[Ranked], min_upvotes: int) -> Eligibles:
            if slug == INTERESTS_SLUG or slug not in self._rankings:
                return eligible(slug, ranking, min_upvotes)
            key = (slug, cut, min_upvotes, flags)
            return recently_used(
                self._eligible, key, lambda: eligible(slug, ranking, min_upvotes), SHARED_ELIGIBLE
            )

        return shared

    @property
    def pool_index(self) -> CandidatePool:
        """The pool sorted for `selection.candidates` by bisection, built once."""
        if self._candidates is None:
            self._candidates = CandidatePool(self.pool)
        return self._candidates

    def cut(self, frequency: str, previous_claim: datetime | None) -> Cut:
        """`CandidatePool.cut`: claims with the same cut have the same candidates
        and the same narrowed rankings, hence (with the same preferences and
        nothing sent) the same digest."""
        return self.pool_index.cut(frequency=frequency, previous_claim=previous_claim, now=self.now)

    def candidates(
        self, frequency: str, previous_claim: datetime | None, sent: set[str]
    ) -> dict[str, Paper]:
        """`selection.candidates`: the cut's candidates with nothing sent, found
        by bisection once per cut for the run (read-only for callers), minus
        `sent` (the same papers in the same order as a scan of the pool, for
        the cost of a pass over the day's candidates)."""
        cut = self.cut(frequency, previous_claim)
        unsent = recently_used(
            self._unsent,
            cut,
            lambda: self.pool_index.at(cut, sent=set(), now=self.now),
            UNSENT_CUTS,
        )
        if not sent:
            return unsent
        return {key: paper for key, paper in unsent.items() if key not in sent}

    def plan_shared(
        self, subscriber: Subscriber, period: str, *, previous_claim: datetime | None
    ) -> Digest:
        """The digest `plan()` makes with nothing sent yet, computed once per
        run for every subscriber with the same digest preferences, period and
        cut (`cut()`: previous claims between the same two arrivals). The
        caller checks its papers against what the subscriber has received
        (`digest.received`) and calls `plan()` with them when any was;
        otherwise it is the subscriber's digest, because removing a candidate
        the digest does not show changes nothing in it."""
        return self.plan(subscriber, period, previous_claim=previous_claim, sent=set()).digest

    def _narrowed(
        self, rankings: dict[str, Sequence[Ranked]], previous_claim: datetime | None
    ) -> dict[str, list[Ranked]]:
        """Each ranking cut to the papers that could be this subscriber's
        candidates (same digest, far fewer entries to filter). Custom interests
        are ranked over those papers only: the same list, without ranking the
        rest of the pool for one subscriber."""
        if self._papers is None:
            self._papers = {p.key: p for p in self.pool}
        index, out = self.index, {}
        for slug, ranking in rankings.items():
            if isinstance(ranking, TopicRanking):
                # The index's papers cut like a ranking: their positions.
                positions = index.derived(
                    "arrivals", lambda: ByArrival(range(len(index)), index.papers)
                )
                cut = positions.could_be_candidates(previous_claim=previous_claim, now=self.now)
                out[slug] = rank_topic(ranking.topic, index, self.now, among=cut)
                continue
            # Keyed by identity: the lists are the planner's own cached rankings.
            if id(ranking) not in self._arrivals:
                papers = [self._papers.get(r.key) for r in ranking]
                self._arrivals[id(ranking)] = (ranking, ByArrival(ranking, papers))
            arrivals = self._arrivals[id(ranking)][1]
            out[slug] = arrivals.could_be_candidates(previous_claim=previous_claim, now=self.now)
        return out


T = TypeVar("T")
_MISSING = object()


def recently_used(cache: dict, key, make: Callable[[], T], limit: int) -> T:
    """`cache[key]`, made by `make()` when missing. `cache` is kept in order of
    use (the least recently used first) and to at most `limit` entries."""
    found = cache.pop(key, _MISSING)
    if found is _MISSING:
        found = make()
        if len(cache) >= limit:
            del cache[next(iter(cache))]
    cache[key] = found
    return found


def digest_preferences(prefs) -> tuple:
    """The preferences a digest depends on (not the timezone, hour or weekday:
    those choose the period, which is keyed apart)."""
    return (
        tuple(prefs.topics),
        tuple(prefs.keywords),
        tuple(prefs.categories),
        tuple(prefs.authors),
        tuple(prefs.mute),
        prefs.frequency,
        prefs.max_papers,
        prefs.format,
        prefs.cross_lists,
        prefs.min_upvotes,
    )


def due_period(
    conn: Connection,
    subscriber: Subscriber,
    now: datetime,
    *,
    on_date: date | None = None,
    force_hour: bool = False,
) -> str | None:
    """The period to send now, or None (see `due_from`), reading the
    subscriber's claimed periods."""
    periods = edition_store.claimed_periods(conn, subscriber.id)
    return due_from(subscriber, periods, now, on_date=on_date, force_hour=force_hour)


def due_from(
    subscriber: Subscriber,
    claimed: Collection[str],
    now: datetime,
    *,
    on_date: date | None = None,
    force_hour: bool = False,
) -> str | None:
    """The period to send now, or None, given every period already `claimed`
    for the subscriber. `on_date` names the period explicitly (still never one
    already claimed). A period whose delivery moment came before the
    subscription began is not due (unless forced): someone who signs up at
    06:00 for 07:00 gets today's edition at 07:00, not yesterday's now."""
    if on_date is not None:
        period = period_for_date(subscriber.prefs, on_date)
        current = current_period(subscriber.prefs, now)
        if parse_period(period)[1] > parse_period(current)[1]:
            return None  # a future edition: claiming it would block the ones before it
        return None if period in claimed else period
    last = latest_period(claimed)
    period = due(subscriber.prefs, now, last, force_hour=force_hour)
    if period is None or force_hour or last is not None:
        return period
    joined = subscriber.confirmed_at or subscriber.created_at
    return period if delivery_moment(subscriber.prefs, period) >= joined else None


def history(
    conn: Connection, subscriber_id: int, *, now: datetime | None = None
) -> tuple[datetime | None, set[str]]:
    """(the moment the next edition's candidates count from, keys already sent).

    Normally the previous counted edition's claim. When a claim was released
    after a later edition had been planned from it (a run that died or failed
    while the next one ran), the papers it held fall in a gap nobody covers;
    the next edition then counts from the start of the earliest gap, so
    released papers are candidates again (the sent log still removes
    everything shown; papers the editions after the gap left out are
    considered once more, the price of never stranding one)."""
    now = now or datetime.now(UTC)
    found = histories(conn, [subscriber_id], since=now - GAP_HORIZON).get(subscriber_id)
    floor = floor_from(found or History(), now)
    return floor, edition_store.sent_keys(conn, subscriber_id)


def floor_from(history: History, now: datetime) -> datetime | None:
    """`history()`'s floor from the subscriber's `History` (read, as
    `edition_claims.histories` does, since `now - GAP_HORIZON` or earlier):
    the counted editions claimed within `GAP_HORIZON`, plus the last one
    before it."""
    horizon = now - GAP_HORIZON
    if history.since is not None and history.since > horizon:
        raise ValueError("the history does not reach back to the gap horizon")
    counted = [r for r in history.rows if r.status in edition_store.COUNTED_STATES]
    recent = sorted((r for r in counted if r.claimed_at >= horizon), key=lambda r: r.claimed_at)
    spans = [(r.reached_after, r.claimed_at) for r in recent]
    before = [r.claimed_at for r in counted if r.claimed_at < horizon]
    if history.older_claim is not None:
        before.append(history.older_claim)
    return candidates_floor(([(None, max(before))] if before else []) + spans)


def candidates_floor(spans: Sequence[tuple[datetime | None, datetime]]) -> datetime | None:
    """From (reached_after, claimed_at) of counted editions, each covering the
    papers that reached us in (reached_after, claimed_at] (a first edition,
    reached_after None, covers everything before it): the end of the covered
    stretch before the earliest uncovered gap, else the latest claim. None when
    there is no edition. A released first edition leaves a gap at the start:
    the next edition then reaches back as a first edition would have."""
    if not spans:
        return None
    ordered = sorted(spans, key=lambda s: (s[0] is not None, s[0] or s[1]))
    start, end = ordered[0]
    if start is not None:
        return start - timedelta(days=FIRST_EDITION_DAYS)
    for reached_after, claimed_at in ordered[1:]:
        if reached_after is not None and reached_after > end:
            return end
        end = max(end, claimed_at)
    return end


def sections_record(digest: Digest, shown: set[str]) -> list[dict]:
    """What the email showed, in order: the never-resend record, and what
    `preview --date` and `digest sent` rebuild. Sections with nothing shown
    are left out."""
    record = [
        {
            "slug": section.slug,
            "title": section.title,
            "entries": [[e.paper.key, e.reason] for e in section.entries if e.paper.key in shown],
        }
        for section in digest.sections
    ]
    return [section for section in record if section["entries"]]


def digest_from_record(
    record: list[dict], papers: dict[str, Paper], *, period: str, frequency: str, fmt: str
) -> Digest:
    """Rebuild a sent edition's digest from its `sections_record` and the papers'
    current records (a paper since deleted is left out)."""
    sections = []
    for item in record:
        entries = [Entry(papers[key], reason) for key, reason in item["entries"] if key in papers]
        if entries:
            sections.append(Section(item["slug"], item["title"], entries))
    return Digest(period, parse_period(period)[1], frequency, sections, fmt)
