"""The send loop: one function over a batch of claimed editions.

In-process runs and queued workers call the same `deliver_batch`, through
`Deliveries`, which gathers a run's claimed editions into batches. Each distinct
digest is compiled once (Jinja2 -> MJML -> HTML); personal links are filled in
per recipient. States move pending -> sending -> sent | failed | unknown; a
batch that certainly never reached the provider is released so the next run
sends it, and nothing is ever sent twice.

Before each provider call the run waits for the shared rate ceiling, then
hands the call's editions over (`hand_over`: pending -> sending in one
statement that checks the claims are still this run's and the subscribers may
still be mailed) and sends exactly the editions that statement moved. The
previous call's outcomes are recorded in that same transaction (one
transaction per provider call; the first call's hand-over goes alone, the
last call's outcomes too), so only the call about to go out is ever
`sending`: a run that dies leaves at most one call to the unknown. On
PostgreSQL that transaction is one statement (`digest.store.call_fence`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, Engine

from digest.batches import Batches
from digest.digests import Message, Recipient
from digest.editions import Planned
from digest.mail.base import AuthError, Mailer, MailError, Outcome
from digest.render import CompileCache, SiteInfo, personalize
from digest.send_rate import SendCeiling
from digest.shutdown import asked
from digest.store import editions as edition_store
from digest.store.call_fence import CallFence
from digest.store.editions import FAILED_ERROR_CHARS
from digest.tokens import link_urls
from digest.web_links import view_url

log = logging.getLogger(__name__)


def recipient_for(planned: Planned, site: SiteInfo, secret: str) -> Recipient:
    sub = planned.subscriber
    unsubscribe, preferences = link_urls(site.base_url, secret, sub.id, sub.email)
    view = view_url(site.base_url, secret, sub.id, sub.email, planned.period)
    return Recipient(sub.id, sub.email, unsubscribe, preferences, sub.name or "", view)


def render_batch(batch: Sequence[Planned], cache: CompileCache, secret: str) -> list[Message]:
    """Messages for the batch, compiling each distinct digest once."""
    messages = []
    for planned in batch:
        compiled = cache.get(planned.digest)
        message = personalize(compiled, recipient_for(planned, cache.site, secret))
        message.edition_id = planned.edition_id
        message.period = planned.period
        messages.append(message)
    return messages


def deliver_batch(
    engine: Engine,
    mailer: Mailer,
    batch: Sequence[Planned],
    *,
    cache: CompileCache,
    secret: str,
    now: datetime,
    run_id: int,
    ceiling: SendCeiling | None = None,
    stop: Callable[[], bool] | None = None,
) -> Counter:
    """Render and send editions claimed by run `run_id`; record each outcome.
    Returns a Counter of final states (sent, failed, unknown, released), plus
    "skipped" (the subscriber left before hand-over) and "lost" (another run
    recovered the claim: this run was presumed dead). `stop` is asked before
    each provider call: once it says so, the call sent last is recorded and
    the editions not yet handed over stay `pending`, for the caller to release."""
    ids = [p.edition_id for p in batch]
    try:
        messages = render_batch(batch, cache, secret)
    except Exception:  # noqa: BLE001 - nothing was sent: release, report, go on
        log.exception("rendering a batch of %d editions failed; released", len(batch))
        with engine.begin() as conn:
            edition_store.release_pending_ids(conn, ids, run_id=run_id)
        return Counter(released=len(batch))
    by_edition = {p.edition_id: p for p in batch}
    counts: Counter = Counter()
    calls = left = 0
    done: _Done | None = None  # the call sent last, recorded with the next hand-over
    fence = CallFence(engine) if engine.dialect.name == "postgresql" else None
    try:
        for call in mailer.calls(messages):
            if not left and ceiling is not None and not asked(stop):
                ceiling.acquire(len(call))  # a wait the stop cuts short (deliveries_for)
            if left or asked(stop):
                left += len(call)
                continue
            ids = [m.edition_id for m in call]
            moved, gone = _record_and_hand_over(engine, fence, done, ids, now=now, run_id=run_id)
            done = None
            counts.update({"skipped": len(gone), "lost": len(call) - len(moved) - len(gone)})
            moved = set(moved)
            call = [m for m in call if m.edition_id in moved]
            if not call:
                continue
            planned = [by_edition[m.edition_id] for m in call]
            calls += 1
            try:
                outcomes = send_call(mailer, call)
            except AuthError as exc:
                # Refused before anything was accepted: release this call, then stop.
                with engine.begin() as conn:
                    exc.released = edition_store.release(
                        conn, [m.edition_id for m in call], run_id=run_id
                    )
                raise
            done = _Done(planned, outcomes)
            counts.update(o.status for o in outcomes)
        if done is not None and fence is not None:  # the last call, in one round trip
            _record_and_hand_over(engine, fence, done, [], now=now, run_id=run_id)
            done = None
    finally:
        if fence is not None:
            fence.close()
        # The last call's outcomes, or those of a call sent before a failure
        # (the ceiling, the next hand-over's statement) stopped the loop: on a
        # connection of its own, the fence's may be what failed.
        if done is not None:
            record_outcomes(engine, done.planned, done.outcomes, now=now, run_id=run_id)
    if counts["lost"]:
        log.warning(
            "%d claims of run %s were recovered by another run: not sent", counts["lost"], run_id
        )
    counts = +counts  # drop zero counts
    # One line a batch at INFO (each edition's is DEBUG, a problem's WARNING):
    # a day's send to 100,000 readers logged one line each, which cost it a
    # seventh of its time and buried the rest of the log.
    log.info(
        "delivered %d editions in %d provider calls: %s",
        len(batch) - left,
        calls,
        ", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "none sent",
    )
    if left:
        log.info("stopping: %d editions of the batch not handed to the mailer", left)
    return counts


class _Done(NamedTuple):
    """A provider call sent and not yet recorded."""

    planned: list[Planned]
    outcomes: list[Outcome]


def _record_and_hand_over(
    engine: Engine,
    fence: CallFence | None,
    done: _Done | None,
    ids: list[int],
    *,
    now: datetime,
    run_id: int,
) -> tuple[list[int], list[int]]:
    """In one transaction: record the outcomes of the call sent before (if
    any), then hand over `ids` (`edition_store.hand_over`: returns (moved,
    released)). With a fence (PostgreSQL) that transaction is one statement;
    the few editions it leaves to `hand_over` get a transaction of their own."""
    if fence is not None:
        rows = [] if done is None else outcome_rows(done.planned, done.outcomes)
        handed = fence.record_and_hand_over(rows, ids, run_id=run_id, sent_at=now)
        moved, gone = handed.moved, handed.dropped
        if handed.rest:
            with engine.begin() as conn:
                more, left = edition_store.hand_over(conn, handed.rest, run_id=run_id)
            moved, gone = sorted(moved + more), sorted(gone + left)
    else:
        with engine.begin() as conn:
            if done is not None:
                _record(conn, done.planned, done.outcomes, now=now, run_id=run_id)
            moved, gone = edition_store.hand_over(conn, ids, run_id=run_id)
    if done is not None:
        _log_outcomes(done.planned, done.outcomes)
    return moved, gone


def send_call(mailer: Mailer, call: Sequence[Message]) -> list[Outcome]:
    """One provider call; a failure of the whole call becomes one outcome each."""
    try:
        return mailer.send(call)
    except AuthError:
        raise  # nothing can be sent this run: run_send stops and releases
    except MailError as exc:
        return [_whole_batch_outcome(exc)] * len(call)
    except Exception as exc:
        # Unknown failure inside the mailer: the call may have gone out.
        log.exception("mailer %s failed", mailer.name)
        return [Outcome("unknown", error=f"{type(exc).__name__}: {exc}")] * len(call)


def _whole_batch_outcome(exc: MailError) -> Outcome:
    if exc.delivered:
        return Outcome("unknown", error=str(exc))
    if exc.permanent:
        return Outcome("failed", error=str(exc))
    return Outcome("released", error=str(exc))


def record_outcomes(
    engine: Engine,
    batch: Sequence[Planned],
    outcomes: Sequence[Outcome],
    *,
    now: datetime,
    run_id: int | None = None,
) -> None:
    """Record each edition's outcome, one statement per outcome state (two for
    "failed": its papers are forgotten); with `run_id`, only on editions that
    run still holds in "sending" (a recovered claim is no longer its to record).
    A status other than sent, failed or released is recorded as "unknown"."""
    with engine.begin() as conn:
        _record(conn, batch, outcomes, now=now, run_id=run_id)
    _log_outcomes(batch, outcomes)


def _record(
    conn: Connection,
    batch: Sequence[Planned],
    outcomes: Sequence[Outcome],
    *,
    now: datetime,
    run_id: int | None,
) -> None:
    """`record_outcomes`' statements, in the caller's transaction."""
    own: dict[str, dict[int, str | None]] = {}
    for edition_id, state, value in outcome_rows(batch, outcomes):
        own.setdefault(state, {})[edition_id] = value
    if "sent" in own:
        edition_store.set_each(conn, "sent", own["sent"], "message_id", run_id=run_id, sent_at=now)
    if "failed" in own:
        edition_store.mark_failed_each(conn, own["failed"], run_id=run_id)
    if "released" in own:
        edition_store.release(conn, list(own["released"]), run_id=run_id)
    if "unknown" in own:
        edition_store.set_each(conn, "unknown", own["unknown"], "error", run_id=run_id)


def outcome_rows(
    batch: Sequence[Planned], outcomes: Sequence[Outcome]
) -> list[tuple[int, str, str | None]]:
    """(edition id, state, value) for each outcome: the state one of sent,
    failed, released and unknown (any other status is recorded as unknown),
    the value a sent edition's message id or another's error (a failed
    edition always has one, and so does an unknown one)."""
    rows = []
    for planned, outcome in zip(batch, outcomes, strict=True):
        state = outcome.status if outcome.status in ("sent", "failed", "released") else "unknown"
        value = outcome.message_id if state == "sent" else outcome.error
        if state == "failed":
            value = (value or "rejected")[:FAILED_ERROR_CHARS]
        elif state == "unknown":
            value = value or "no reason given"
        rows.append((planned.edition_id, state, value))
    return rows


# A problem's line, by outcome status (any other status: unknown).
_PROBLEM_LINES = {
    "failed": "edition %s for %s failed: %s",
    "released": "edition %s for %s not sent, released: %s",
}
_UNKNOWN_LINE = "edition %s for %s in unknown state: %s"
NAMED_IDS = 10  # subscriber ids a problem's line names


def _log_outcomes(batch: Sequence[Planned], outcomes: Sequence[Outcome]) -> None:
    """Each edition sent at DEBUG; the problems at WARNING, one line for the
    editions of a period that met the same fate for the same reason (a call
    refused whole is one line, not one per recipient)."""
    problems: dict[tuple[str, str, str | None], list[int]] = {}
    for planned, outcome in zip(batch, outcomes, strict=True):
        sid = planned.subscriber.id
        if outcome.status == "sent":
            log.debug("edition %s sent to subscriber %s", planned.period, sid)
        else:
            problems.setdefault((planned.period, outcome.status, outcome.error), []).append(sid)
    for (period, status, error), ids in problems.items():
        line = _PROBLEM_LINES.get(status, _UNKNOWN_LINE)
        log.warning(line, period, _subscribers(ids), error)


def _subscribers(ids: list[int]) -> str:
    """Whom a problem's line names: "subscriber 7", or "3 subscribers (7, 9,
    12)", at most `NAMED_IDS` ids."""
    if len(ids) == 1:
        return f"subscriber {ids[0]}"
    named = ", ".join(map(str, ids[:NAMED_IDS]))
    more = f" and {len(ids) - NAMED_IDS} more" if len(ids) > NAMED_IDS else ""
    return f"{len(ids)} subscribers ({named}{more})"


class Deliveries:
    """One run's claimed editions gathered into delivery batches
    (`digest.batches`: whole digest groups for a mailer that sends one request
    per digest) and delivered with `deliver_batch` as each batch fills.
    `now` gives the moment recorded as sent, asked per batch.

    `stop` (the run's stop flag) matters to a grouping mailer only, which may
    hold a whole list's claims and send them for minutes: once it says so,
    no further provider call is made (the one in flight is recorded) and
    what is held stays `pending` for `release_held`. Other mailers hold one
    batch, which is delivered."""

    def __init__(
        self,
        engine: Engine,
        mailer: Mailer,
        *,
        cache: CompileCache,
        secret: str,
        now: Callable[[], datetime],
        run_id: int | None,  # None: a dry run, which delivers nothing
        ceiling: SendCeiling,
        size: int,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        self.engine, self.mailer, self.cache, self.secret = engine, mailer, cache, secret
        self.now, self.run_id, self.ceiling = now, run_id, ceiling
        self.batches = Batches(size, group_size=getattr(mailer, "group_size", 0))
        self._stop = stop if self.batches.group_size else None

    def stopping(self) -> bool:
        """Whether what is held is to be released rather than sent (see above)."""
        return asked(self._stop)

    def deliver(self, batch: Sequence[Planned]) -> Counter:
        """Deliver `batch` at once (see `deliver_batch`)."""
        return deliver_batch(
            self.engine,
            self.mailer,
            batch,
            cache=self.cache,
            secret=self.secret,
            now=self.now(),
            run_id=self.run_id,
            ceiling=self.ceiling,
            stop=self._stop,
        )

    def add(self, planned: Planned) -> Counter:
        """Take a claimed edition; deliver the batches it completes."""
        return self._deliver_all(self.batches.add(planned))

    def release_held(self) -> int:
        """Release every claim still waiting (pending, never handed to the
        mailer): the next run plans and sends them. Returns how many."""
        self.batches.rest()  # forgotten here; all the run's pending claims are these
        if self.run_id is None:
            return 0  # a dry run claims nothing
        with self.engine.begin() as conn:
            released = edition_store.release_pending(conn, self.run_id)
        if released:
            log.info("stopping: %d claimed editions released for the next run", released)
        return released

    def finish(self) -> Counter:
        """Deliver everything still waiting (unless stopping: see above)."""
        return self._deliver_all(self.batches.rest())

    def _deliver_all(self, batches: list[list[Planned]]) -> Counter:
        counts: Counter = Counter()
        for batch in batches:
            if self.stopping():
                break  # the rest stay pending: `release_held` releases them
            counts += self.deliver(batch)
        return counts
