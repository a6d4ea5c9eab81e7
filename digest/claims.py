"""Claiming due editions a batch of subscribers at a time.

`claim_next` takes the next batch of active subscribers (in id order, from a
cursor), plans each one's due edition and claims it, all in the caller's
transaction, so a batch is claimed entirely or not at all. On PostgreSQL the
batch's subscriber rows are locked with SKIP LOCKED: two runs walking the
list at once split it between them instead of queueing behind each other, and
a run that meets a subscriber another run holds skips it (that run is
claiming it). The unique (subscriber, period) key stays the final word: a
period already claimed is never claimed again.

`digest send` calls it in a loop and delivers what it claimed in-process; a
queued send (procrastinate, on PostgreSQL) calls it in the transaction that
enqueues the batch's job. Its two halves, `plan_next` and `claim_planned`,
also run in two transactions: a send shared by processes on SQLite plans in
one that only reads, and the claim reads the batch's editions again and
replans whoever another run served in between (`recheck`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Connection

from digest.digests import Digest
from digest.editions import GAP_HORIZON, Planned, Planner, due_from, floor_from, sections_record
from digest.received import could_hold, counted, reached_since
from digest.render import CompileCache
from digest.store import edition_claims
from digest.store.digests import record_key
from digest.store.edition_claims import Claim, HistoriesRead, History
from digest.store.subscribers import Subscriber, active_among, lock_active_batch

log = logging.getLogger(__name__)

CLAIM_SIZE = 200  # subscribers per claim transaction


@dataclass
class ClaimOptions:
    """What the claim of a batch needs to know about the run."""

    now: datetime  # the moment candidates are taken at (may be replayed)
    run_id: int | None  # None: a dry run, nothing is written
    on_date: date | None = None
    force_hour: bool = False
    send_empty: bool = False
    only: str | None = None  # one address
    size: int = CLAIM_SIZE
    # Asked before each subscriber; True ends the batch there (what it claimed
    # so far is kept and delivered). `digest run` sets it on SIGTERM.
    stop: Callable[[], bool] | None = None

    def sends_nothing(self, planned: Planned) -> bool:
        """Whether `planned` is claimed as "empty": no papers, and empty
        editions are not sent."""
        return planned.empty and not self.send_empty


@dataclass
class ClaimedBatch:
    claimed: list[Planned] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)  # "empty", "would-send"
    planned: list[Planned] = field(default_factory=list)  # dry runs: every plan
    last_id: int | None = None  # the cursor for the next batch; None: list done
    seen: int = 0  # subscribers looked at
    stopped: bool = False  # `stop` said so before the batch was done


def claim_next(
    conn: Connection,
    planner: Planner,
    cache: CompileCache,
    options: ClaimOptions,
    *,
    after: int,
    upto: int | None = None,
) -> ClaimedBatch:
    """Plan and claim the due editions of the next batch of active subscribers
    with an id above `after` (and at most `upto`), in the caller's
    transaction. Returns what was claimed (to deliver), the counts of empty
    editions (claimed as "empty") and, on a dry run (`run_id` None), the
    plans without claiming anything.

    A handful of statements per batch, whatever its size: the batch's rows,
    their editions (`histories`), the digests that could hold a planned paper,
    then the digests and editions written in bulk (`claim_editions`)."""
    planned = plan_next(conn, planner, options, after=after, upto=upto)
    return claim_planned(conn, planner, cache, options, planned)


@dataclass
class PlannedBatch:
    """A batch planned and not yet claimed: its subscribers, their histories
    as read (from the gap horizon on), the plans, and the cursor."""

    subscribers: list[Subscriber] = field(default_factory=list)
    read: HistoriesRead | None = None
    plans: list[Planned] = field(default_factory=list)
    last_id: int | None = None
    seen: int = 0
    stopped: bool = False


def plan_next(
    conn: Connection,
    planner: Planner,
    options: ClaimOptions,
    *,
    after: int,
    upto: int | None = None,
    recheck: bool = False,
) -> PlannedBatch:
    """The first half of `claim_next`: read the next batch and plan its due
    editions, writing nothing. With `recheck` (SQLite) it also reads what
    `claim_planned(recheck=True)` compares: the change counts of the batch's
    editions."""
    subscribers = lock_active_batch(
        conn, after=after, upto=upto, size=options.size, email=options.only
    )
    # Rows from the gap horizon on; an explicit date asks whether that very
    # period was claimed, however long ago: then every row.
    since = options.now - GAP_HORIZON if options.on_date is None else None
    batch = PlannedBatch(subscribers)
    if not subscribers:
        return batch
    ids = [s.id for s in subscribers]
    batch.read = edition_claims.read_histories(conn, ids, since=since, versions=recheck)
    for subscriber in subscribers:
        if options.stop is not None and options.stop():
            batch.stopped = True
            break
        batch.last_id, batch.seen = subscriber.id, batch.seen + 1
    read = dict(batch.read.histories)  # planning may complete some: `_read_whole`
    batch.plans = _plans(conn, planner, options, subscribers[: batch.seen], read)
    return batch


def claim_planned(
    conn: Connection,
    planner: Planner,
    cache: CompileCache,
    options: ClaimOptions,
    batch: PlannedBatch,
    *,
    recheck: bool = False,
) -> ClaimedBatch:
    """The second half of `claim_next`: claim what `batch` planned, in the
    caller's transaction. With `recheck` the batch was planned in an earlier
    transaction (`plan_next(recheck=True)`): any subscriber whose editions
    changed meanwhile (another run claimed or released one) is planned again
    here from the histories read now, so the plans claimed are those this
    transaction would have made."""
    claimed = ClaimedBatch(last_id=batch.last_id, seen=batch.seen, stopped=batch.stopped)
    plans = batch.plans
    if recheck and batch.seen:
        now = edition_claims.changed_histories(conn, batch.read)
        seen = batch.subscribers[: batch.seen]
        # Erased or unsubscribed meanwhile: a claim now would not have read
        # them (and an erased one's edition would fail the foreign key).
        active = active_among(conn, [s.id for s in seen])
        changed = [s for s in seen if s.id in now and s.id in active]
        if changed or len(active) < len(seen):
            ids = {s.id for s in changed}
            plans = [p for p in plans if p.subscriber.id in active and p.subscriber.id not in ids]
            plans += _plans(conn, planner, options, changed, now)
    if options.run_id is None:
        for planned in plans:
            # Classified as the real run would: an empty edition sends nothing.
            claimed.counts["empty" if options.sends_nothing(planned) else "would-send"] += 1
        claimed.planned = plans
        return claimed
    _claim(conn, cache, plans, options, claimed)
    return claimed


def record_ahead(cache: CompileCache, batch: PlannedBatch, options: ClaimOptions) -> None:
    """Make what the claim of each of `batch`'s plans records (the papers its
    email shows, `CompileCache.record`) now, outside any transaction, so that
    `claim_planned`'s transaction (on SQLite: the database's one write lock,
    which the other processes of a send wait for) only finds it made."""
    for planned in batch.plans:
        if not options.sends_nothing(planned):
            cache.record(planned.digest, _record)


def _plans(
    conn: Connection,
    planner: Planner,
    options: ClaimOptions,
    subscribers: list[Subscriber],
    histories: dict[int, History],
) -> list[Planned]:
    """The due edition of each of `subscribers` that has one, planned from
    `histories` (which planning may complete: `_without_received`)."""
    plans = []
    for subscriber in subscribers:
        history = histories.setdefault(subscriber.id, History())  # none: no edition at all
        period = due_from(
            subscriber,
            history.periods(),
            options.now,
            on_date=options.on_date,
            force_hour=options.force_hour,
        )
        if period is not None:
            previous = floor_from(history, options.now)
            digest = planner.plan_shared(subscriber, period, previous_claim=previous)
            plans.append(Planned(subscriber, period, digest, previous_claim=previous))
    return _without_received(conn, planner, plans, histories)


def _without_received(
    conn: Connection,
    planner: Planner,
    plans: list[Planned],
    histories: dict[int, History],
) -> list[Planned]:
    """Each plan, replanned without what its subscriber has received when its
    shared digest holds any of it (a paper trending again, a released
    edition's papers: about one reader in eight on the benchmark's day; the
    planner shares those replans too). A history read from the horizon on is read whole (one
    query for the batch) where its rows are not enough: a paper of the digest
    reached us before them."""
    received = planner.received
    since = {id(p): reached_since(p.digest) for p in plans if p.digest.papers}
    short = [
        p for p in plans if id(p) in since and not _covers(histories[p.subscriber.id], since[id(p)])
    ]
    _read_whole(conn, histories, [p.subscriber.id for p in short])
    could = {
        id(p): could_hold(p.digest, histories[p.subscriber.id].rows) if id(p) in since else []
        for p in plans
    }
    received.load(conn, {i for ids in could.values() for i in ids})
    again = {id(p) for p in plans if could[id(p)] and received.keys(could[id(p)]) & _keys(p.digest)}
    return [_replanned(conn, planner, p, histories) if id(p) in again else p for p in plans]


def _replanned(
    conn: Connection, planner: Planner, planned: Planned, histories: dict[int, History]
) -> Planned:
    """`planner.plan` without what the subscriber received, from the rows read
    first: that digest is exact when none of its papers reached us before
    them (no older edition could have shown one, and leaving out a candidate
    the digest does not show changes nothing in it); otherwise from every
    edition (read whole)."""
    sid = planned.subscriber.id
    while True:
        history = histories[sid]
        every = counted(history.rows)
        planner.received.load(conn, every)
        again = planner.plan(
            planned.subscriber,
            planned.period,
            previous_claim=planned.previous_claim,
            sent=planner.received.keys(every),
        )
        if not again.digest.papers or _covers(history, reached_since(again.digest)):
            return again
        _read_whole(conn, histories, [sid])


def _keys(digest: Digest) -> set[str]:
    return {p.key for p in digest.papers}


def _covers(history: History, since: datetime | None) -> bool:
    """Whether `history.rows` hold every edition claimed since `since` (None: ever)."""
    return history.complete or (since is not None and since >= history.since)


def _read_whole(conn: Connection, histories: dict[int, History], ids: list[int]) -> None:
    """Replace the histories of `ids` that are not complete by complete ones."""
    missing = [i for i in ids if not histories[i].complete]
    if missing:
        whole = edition_claims.histories(conn, missing)
        for i in missing:
            histories[i] = whole.get(i, History())


def _claim(
    conn: Connection,
    cache: CompileCache,
    plans: list[Planned],
    options: ClaimOptions,
    batch: ClaimedBatch,
) -> None:
    """Claim the plans in bulk. The record holds exactly the papers the email
    will show (past the HTML size budget the rest are only counted), found from
    the run's compiled fragments without assembling the email, which delivery
    does once per digest group."""
    claims = []
    for planned in plans:
        empty = options.sends_nothing(planned)
        sections, key = ([], None) if empty else cache.record(planned.digest, _record)
        if planned.period != planned.digest.period:
            key = None  # the key is the digest's period's; claim_editions makes this one
        status = "empty" if empty else "pending"
        claims.append(
            Claim(
                planned.subscriber.id, planned.period, status, sections, planned.previous_claim, key
            )
        )
    made = edition_claims.claim_editions(conn, claims, now=options.now, run_id=options.run_id)
    for planned, claim in zip(plans, claims, strict=True):
        planned.edition_id = made.get(planned.subscriber.id)
        if planned.edition_id is None:
            continue  # claimed meanwhile by another run
        if claim.status == "empty":
            batch.counts["empty"] += 1
            log.debug(
                "edition %s for subscriber %s is empty: nothing sent",
                planned.period,
                planned.subscriber.id,
            )
        else:
            batch.claimed.append(planned)


def _record(digest: Digest, shown: tuple[str, ...]) -> tuple[list, str | None]:
    """What a claim of `digest` records (the papers its email shows) and that
    record's key; made once per digest object of the run (`CompileCache.record`)."""
    sections = sections_record(digest, set(shown))
    return sections, record_key(digest.period, sections) if sections else None
