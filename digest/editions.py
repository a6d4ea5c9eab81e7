"""Building editions: who is due, what their digest holds, and the claim.

`Planner` holds what one run shares across subscribers: the candidate pool
(loaded once), each topic's ranking (computed once per run, so once per
edition date), and the clock. `plan()` is pure given those; `claim()` writes
the edition and its sent log in one transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from digest.compose import compose_digest
from digest.digests import Digest
from digest.papers import Paper
from digest.periods import delivery_moment, due, latest_period, period_for_date
from digest.ranking import Ranked, RankingIndex, rank_topic
from digest.selection import candidates, load_pool
from digest.store import editions as edition_store
from digest.store.subscribers import Subscriber
from digest.topics import custom_topic, get_topic


@dataclass
class Planned:
    subscriber: Subscriber
    period: str
    digest: Digest
    edition_id: int | None = None

    @property
    def empty(self) -> bool:
        return self.digest.paper_count == 0


@dataclass
class Planner:
    pool: list[Paper]
    now: datetime
    _rankings: dict[str, list[Ranked]] = field(default_factory=dict)
    _index: RankingIndex | None = None

    @property
    def index(self) -> RankingIndex:
        """The pool tokenised and stemmed once, shared by every topic's ranking."""
        if self._index is None:
            self._index = RankingIndex(self.pool)
        return self._index

    @classmethod
    def load(cls, conn: Connection, *, now: datetime, retention_days: int) -> Planner:
        return cls(load_pool(conn, now=now, retention_days=retention_days), now)

    def ranking(self, slug: str) -> list[Ranked]:
        if slug not in self._rankings:
            self._rankings[slug] = rank_topic(get_topic(slug), self.index, self.now)
        return self._rankings[slug]

    def rankings_for(self, subscriber: Subscriber) -> dict[str, list[Ranked]]:
        prefs = subscriber.prefs
        ranked = {t.slug: self.ranking(t.slug) for t in prefs.topics}
        interests = custom_topic(prefs)
        if interests is not None:
            # Personal interests are ranked per subscriber (they are theirs alone).
            ranked[interests.slug] = rank_topic(interests, self.index, self.now)
        return ranked

    def plan(
        self,
        subscriber: Subscriber,
        period: str,
        *,
        previous_claim: datetime | None,
        sent: set[str],
        every_paper: bool = False,
    ) -> Planned:
        """The subscriber's digest for `period`. `every_paper` makes the whole pool
        the candidates (rebuilding an edition from the papers it sent)."""
        prefs = subscriber.prefs
        if every_paper:
            chosen = {p.key: p for p in self.pool}
        else:
            chosen = candidates(
                self.pool,
                frequency=prefs.frequency,
                previous_claim=previous_claim,
                sent=sent,
                now=self.now,
            )
        digest = compose_digest(
            prefs,
            self.rankings_for(subscriber),
            chosen,
            period=period,
            edition_date=local_date(prefs.timezone, self.now),
            frequency=prefs.frequency,
        )
        return Planned(subscriber, period, digest)


def local_date(timezone: str, now: datetime) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def due_period(
    conn: Connection,
    subscriber: Subscriber,
    now: datetime,
    *,
    on_date: date | None = None,
    force_hour: bool = False,
) -> str | None:
    """The period to send now, or None. `on_date` names the period explicitly
    (still never one already claimed). A period whose delivery moment came
    before the subscription began is not due (unless forced): someone who signs
    up at 06:00 for 07:00 gets today's edition at 07:00, not yesterday's now."""
    if on_date is not None:
        period = period_for_date(subscriber.prefs, on_date)
        return None if edition_store.get_edition(conn, subscriber.id, period) else period
    last = latest_period(edition_store.claimed_periods(conn, subscriber.id))
    period = due(subscriber.prefs, now, last, force_hour=force_hour)
    if period is None or force_hour or last is not None:
        return period
    joined = subscriber.confirmed_at or subscriber.created_at
    return period if delivery_moment(subscriber.prefs, period) >= joined else None


def history(conn: Connection, subscriber_id: int) -> tuple[datetime | None, set[str]]:
    """(claim time of the previous counted edition, keys already sent)."""
    last = edition_store.last_edition(conn, subscriber_id)
    return (last["claimed_at"] if last else None), edition_store.sent_keys(conn, subscriber_id)


def rendering_hash(digest: Digest) -> str:
    return hashlib.sha256(repr(digest.rendering_key()).encode()).hexdigest()


def claim(
    conn: Connection,
    planned: Planned,
    *,
    now: datetime,
    status: str = "pending",
    keys: Iterable[str] | None = None,
) -> bool:
    """Claim the edition and write its sent log (`keys`, default every paper of
    the digest) in the caller's transaction. False when another run already
    claimed this period."""
    planned.edition_id = edition_store.claim_edition(
        conn,
        planned.subscriber.id,
        planned.period,
        [p.key for p in planned.digest.papers] if keys is None else keys,
        now=now,
        status=status,
        rendering_key=rendering_hash(planned.digest),
    )
    return planned.edition_id is not None
