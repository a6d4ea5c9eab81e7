"""One send shared by several processes (`digest send --processes N`,
`send_processes`).

The parent is a run like any send: it registers, recovers dead runs, sends the
`unknown` editions again if asked, and loads what planning shares (the pool,
the ranking index, every catalog topic's ranking) once. Then it forks N
processes, which share those pages copy-on-write. Each child is a run of its
own (its liveness lock, its claims, recovered like any run's if it dies) and
takes ranges of subscriber ids from a counter the children share, so no
subscriber is planned twice; it claims and delivers them exactly as a
single-process send does (`digest.send.claim_and_deliver`). The children's
log records are handed to the parent's handlers, their counts added to the
parent's report. When every child has ended, the parent recovers any that
died.

The unique (subscriber, period) key stays the final word, as between any
concurrent runs. Forking needs a POSIX system; the parent forks before it
opens anything it would share (database connections are disposed of in the
child, the mailer's connections closed first).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
from collections.abc import Callable, Iterator
from logging.handlers import QueueHandler, QueueListener
from multiprocessing.connection import wait

from sqlalchemy import Engine

from digest.db.engine import Checkpointer, checkpoint_elsewhere
from digest.editions import Planner
from digest.mail.base import AuthError
from digest.runs import Run, finish_run, recover_dead_runs, start_run
from digest.store.subscribers import active_span

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # how often the parent reports progress and asks `stop`


def send_in_processes(
    engine: Engine,
    run: Run,
    mailer,
    options,
    report,
    site,
    secret: str,
    progress: Callable[[int, int], None] | None,
) -> None:
    """`digest.send._plan_all` for `options.processes` processes (see the
    module's docstring). Raises `AuthError` when a child was refused (with the
    number of claims the children released), RuntimeError when one failed
    otherwise; the other children finish their work first."""
    from digest.send import deliveries_for, resend_unknown

    with engine.begin() as conn:
        first, last, total = active_span(conn)
        planner = Planner.load(conn, now=options.now, retention_days=options.retention_days)
    resend_unknown(deliveries_for(engine, run, mailer, options, site, secret), run, options, report)
    if not total:
        return
    planner.warm()
    context = multiprocessing.get_context("fork")
    # Ranges as wide as a claim batch's share of the ids (ids have gaps).
    width = -(-options.claim_size * (last - first + 1) // total)
    shared = _Shared(context, first, last, width)
    # Nothing open is shared with the children: no pooled connection (a
    # SQLite handle or a PostgreSQL session used from two processes corrupts
    # both), no mailer connection (each child reconnects).
    engine.dispose()
    mailer.close()
    gc.collect()
    gc.freeze()  # the planner's pages stay shared: the collector never writes to them
    listener = QueueListener(shared.logs, _Relay())
    listener.start()
    children = []
    checkpoint = None
    try:
        for _ in range(options.processes):
            receive, send = context.Pipe(duplex=False)
            child = context.Process(
                target=_child,
                args=(engine, run, mailer, options, planner, site, secret, shared, send),
                daemon=False,
            )
            child.start()
            send.close()
            children.append((child, receive))
        checkpoint = Checkpointer(engine)  # opened after the forks: the parent's own
        _wait(children, options, shared, total, progress, checkpoint)
    finally:
        gc.unfreeze()
        listener.stop()
        if checkpoint is not None:
            checkpoint.close()
    endings = [_ending(receive) for _, receive in children]
    report.recovered += recover_dead_runs(engine, mailer, now=options.clock(), me=run.id)
    _gather(endings, report)


class _Shared:
    """What the children share: the next range's number, subscribers looked
    at (progress), a stop flag, and the queue their log records go to."""

    def __init__(self, context, first: int, last: int, width: int) -> None:
        self.next = context.Value("q", 0)
        self.seen = context.Value("q", 0)
        self.halt = context.Event()
        self.logs = context.Queue()
        self.first, self.last, self.width = first, last, max(width, 1)

    def ranges(self) -> Iterator[tuple[int, int | None]]:
        """Id ranges (after, upto] of about a claim batch's subscribers each,
        each given to one child; the last is open-ended (subscribers who
        joined since the parent looked)."""
        while not self.halt.is_set():
            with self.next.get_lock():
                number = self.next.value
                self.next.value += 1
            after = self.first - 1 + number * self.width
            if after >= self.last:
                return
            upto = after + self.width
            yield after, (upto if upto < self.last else None)

    def advanced(self, seen: int) -> None:
        with self.seen.get_lock():
            self.seen.value += seen


def _child(
    engine: Engine, parent_run: Run, mailer, options, planner, site, secret, shared: _Shared, out
) -> None:
    """One child's send, ended by one message to the parent: ("ok", counts),
    ("refused", message, released, counts) or ("failed", message, counts)."""
    from dataclasses import replace

    from digest.send import SendReport, claim_and_deliver, claim_options_for, deliveries_for

    _forward_logs(shared.logs)
    parent_run.lock.inherited()
    checkpoint_elsewhere(engine)  # the parent checkpoints SQLite's WAL while it waits
    report = SendReport()
    child_options = replace(options, stop=shared.halt.is_set)
    run = start_run(engine, now=options.clock(), mailer=mailer.name)
    ending: tuple = ("ok",)
    try:
        deliveries = deliveries_for(engine, run, mailer, child_options, site, secret)
        claim_options = claim_options_for(child_options, run.id)
        claim_and_deliver(
            engine,
            planner,
            deliveries,
            claim_options,
            shared.ranges(),
            report,
            shared.advanced,
            plan_apart=engine.dialect.name == "sqlite",
        )
    except AuthError as exc:
        shared.halt.set()  # the others would be refused too
        ending = ("refused", str(exc), exc.released)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises
        log.exception("a sending process failed")
        ending = ("failed", f"{type(exc).__name__}: {exc}")
    finally:
        tidied = finish_run(engine, run, mailer, now=options.clock())
        mailer.close()
    if ending[0] == "refused":
        ending = (*ending[:2], ending[2] + tidied["released"])
    out.send((*ending, report.counts))
    out.close()


def _wait(children, options, shared: _Shared, total: int, progress, checkpoint) -> None:
    """Until every child has ended: report progress, pass a stop on,
    checkpoint SQLite's WAL (`Checkpointer`)."""
    running = {child.sentinel: child for child, _ in children}
    while running:
        for sentinel in wait(list(running), timeout=POLL_SECONDS):
            running.pop(sentinel).join()
        checkpoint()
        if options.stop is not None and options.stop():
            shared.halt.set()
        if progress:
            progress(min(shared.seen.value, total), total)


def _ending(receive) -> tuple | None:
    """A child's last message, or None when it died without one (its end of
    the pipe closed by the system: poll says "readable", recv finds nothing)."""
    try:
        return receive.recv() if receive.poll() else None
    except EOFError:
        return None


def _gather(endings: list[tuple | None], report) -> None:
    """Add the children's counts to `report`; raise what stopped any of them."""
    refused, failed, released = None, [], 0
    for ending in endings:
        if ending is None:
            failed.append("a sending process died (its claims were recovered)")
            continue
        report.counts += ending[-1]
        if ending[0] == "refused":
            refused, released = ending[1], released + ending[2]
        elif ending[0] == "failed":
            failed.append(ending[1])
    if refused is not None:
        exc = AuthError(refused)
        exc.released = released
        raise exc
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(endings)} sending processes failed: {failed[0]}")


def _forward_logs(queue) -> None:
    """Send this process's log records to `queue` instead of its handlers (the
    parent's copies, which the parent's own instances serve)."""
    named = logging.Logger.manager.loggerDict.values()
    loggers = [logging.getLogger(), *(each for each in named if isinstance(each, logging.Logger))]
    for logger in loggers:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
    logging.getLogger().addHandler(QueueHandler(queue))


class _Relay(logging.Handler):
    """A child's record, handled by the parent's logger of the same name (its
    level was checked in the child)."""

    def handle(self, record: logging.LogRecord) -> bool:
        logging.getLogger(record.name).handle(record)
        return True
