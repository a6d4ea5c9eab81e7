"""`digest worker`: a process that runs the send queue's jobs (PostgreSQL).

Any number of workers, on any machines pointed at the same database, each
running up to `concurrency` jobs at once (procrastinate runs our synchronous
job in a thread per job). A job is `deliver_job(editions=[...])`: one claimed
batch, delivered by `digest.queued_send.deliver_queued` with a run of its own.

Beside procrastinate's loop, each worker sweeps for stalled jobs (their worker
stopped beating: it died) every half `stalled_after` and retries them
(`digest.send_queue.retry_stalled`); a retried job delivers whatever of its
batch is still `queued`, while the dead worker's own claims follow the
recovery rules (pending released for the next tick, sending reconciled or
`unknown`). SIGTERM/SIGINT: procrastinate stops fetching and waits for the
running jobs to finish their batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections import Counter

from digest.wiring import Runtime

log = logging.getLogger("digest.worker")

SWEEP_LOCK = "send-queue-sweep"

_bound: Runtime | None = None


def bind(runtime: Runtime | None) -> None:
    """Give the jobs of this process their runtime (None unbinds)."""
    global _bound
    _bound = runtime


def deliver_job(editions: list[int]) -> dict[str, int]:
    """The queue's task: deliver one batch of queued editions; logs one line
    and returns the outcome counts (kept in procrastinate's job record)."""
    from digest.queued_send import deliver_queued

    runtime = _bound
    if runtime is None:
        raise RuntimeError("digest.worker jobs run only inside `digest worker` (no runtime bound)")
    mailer = runtime.mailer()
    try:
        counts = deliver_queued(
            runtime.engine,
            mailer,
            editions,
            site=runtime.site,
            secret=runtime.secret,
            send_rate=runtime.settings.send_rate,
        )
    finally:
        mailer.close()
    _log_job(len(editions), counts)
    return dict(counts)


def _log_job(named: int, counts: Counter) -> None:
    shown = ", ".join(f"{k} {n}" for k, n in counts.items())
    troubled = any(counts.get(k) for k in ("failed", "unknown", "released", "lost"))
    level = logging.WARNING if troubled else logging.INFO
    fields = {"job": "deliver", "editions": named, "counts": dict(counts)}
    log.log(
        level,
        "job deliver of %d editions: %s",
        named,
        shown or "nothing left to send",
        extra={"fields": fields},
    )


def run_worker(runtime: Runtime, *, concurrency: int = 1) -> int:
    """Run jobs until SIGTERM/SIGINT; the exit status."""
    from digest.send_queue import QUEUE, make_app
    from digest.triggers import parse_duration

    stalled_after = parse_duration(runtime.settings.queue.stalled_after).total_seconds()
    runtime.engine  # noqa: B018 - check the schema now, not in the first job
    if not log.isEnabledFor(logging.DEBUG):
        # Our own line per job says what procrastinate's two would.
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
    app = make_app(runtime.settings.database_url)
    name = f"{socket.gethostname()}:{os.getpid()}"
    bind(runtime)

    async def main() -> None:
        async with app.open_async():
            sweeper = asyncio.create_task(_sweep(app, runtime.engine, stalled_after))
            try:
                log.info("worker %s started: %d at a time, queue %s", name, concurrency, QUEUE)
                await app.run_worker_async(
                    queues=[QUEUE],
                    name=name,
                    concurrency=concurrency,
                    update_heartbeat_interval=stalled_after / 3,
                    stalled_worker_timeout=stalled_after,
                    install_signal_handlers=True,
                )
            finally:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper

    try:
        asyncio.run(main())
    finally:
        bind(None)
    log.info("worker %s stopped", name)
    return 0


async def _sweep(app, engine, stalled_after: float) -> None:
    """Retry stalled jobs now and every half `stalled_after`; a failed sweep is
    logged and tried again at the next turn.

    One worker sweeps at a time (the `send-queue-sweep` lock; a worker that
    finds it taken skips its turn). Finding and retrying are two steps: a
    second sweeper working from its own, older list could retry a job the
    first had already retried and a live worker had picked up since."""
    from digest.locks import try_lock
    from digest.send_queue import retry_stalled

    while True:
        try:
            lock = await asyncio.to_thread(try_lock, engine, SWEEP_LOCK)
            if lock is not None:
                try:
                    await retry_stalled(app, stalled_after=stalled_after)
                finally:
                    await asyncio.to_thread(lock.release)
        except Exception:  # noqa: BLE001 - the sweep must outlive a database blip
            log.warning("the sweep for stalled jobs failed; trying again", exc_info=True)
        await asyncio.sleep(stalled_after / 2)
