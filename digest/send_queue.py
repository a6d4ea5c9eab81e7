"""The send queue: procrastinate on PostgreSQL (DESIGN.md "Decisions", Scale-out).

With `send_queue = "procrastinate"` the scheduler's send tick does not deliver:
it claims due editions a batch at a time and, in the transaction that writes
each batch's claims, defers one job naming them (`defer`). `digest worker`
processes on any machine pointed at the same database run those jobs
(`digest.queued_send.deliver_queued`).

- Deferring in our transaction: procrastinate's `connection=` option runs its
  `procrastinate_defer_jobs_v1` on the psycopg connection under our SQLAlchemy
  connection, so the job row commits or rolls back with the claims: a rolled
  back batch leaves neither.
- The schema is procrastinate 3.10.0's, applied by revision 0008.
- Stalled jobs: a worker beats every third of `[queue] stalled_after`; one
  whose beat is older than that is taken for dead, and every worker sweeps
  for the running jobs of such workers and retries them (`retry_stalled`). A
  retried job is safe whatever its first attempt did: it only takes over
  editions still `queued` (digest.store.queued).
- Jobs that failed for good, or were deleted, leave their editions `queued`;
  the next tick finds them (no live job names them) and queues them again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import Connection
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    import procrastinate

log = logging.getLogger(__name__)

TASK = "digest.deliver_editions"
QUEUE = "digest-send"
ARG = "editions"  # the job's one argument: the edition ids it delivers
# A job that raised because the database went away is tried again, with waits
# of 2, 4, 8, 16 s: what it had taken over was released or settled by then.
RETRY_ATTEMPTS = 4


def conninfo(database_url: str) -> str:
    """The libpq URL of a SQLAlchemy PostgreSQL URL (procrastinate's pool
    connects with psycopg directly)."""
    url = make_url(database_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def make_app(database_url: str) -> procrastinate.App:
    """The procrastinate app with the delivery task registered. Not opened:
    deferring on our own connection needs no pool; a worker opens it."""
    import procrastinate
    from sqlalchemy.exc import DBAPIError

    from digest.worker import deliver_job

    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=conninfo(database_url))
    )
    retry = procrastinate.RetryStrategy(
        max_attempts=RETRY_ATTEMPTS, exponential_wait=2, retry_exceptions={DBAPIError}
    )
    app.task(name=TASK, queue=QUEUE, retry=retry)(deliver_job)
    return app


def defer(app: procrastinate.App, conn: Connection, edition_ids: Iterable[int]) -> int:
    """Defer the job delivering `edition_ids` in `conn`'s transaction; its id."""
    raw = conn.connection.driver_connection
    return app.configure_task(TASK, connection=raw).defer(**{ARG: list(edition_ids)})


async def retry_stalled(app: procrastinate.App, *, stalled_after: float) -> int:
    """Retry the delivery jobs still `doing` whose worker stopped beating more
    than `stalled_after` seconds ago (or was pruned); returns how many. Several
    workers may sweep at once: a job another one retried first is skipped."""
    from procrastinate.exceptions import ConnectorException

    stalled = await app.job_manager.get_stalled_jobs(
        task_name=TASK, seconds_since_heartbeat=stalled_after
    )
    retried = 0
    for job in stalled:
        try:
            await app.job_manager.retry_job(job)
        except ConnectorException:
            continue  # no longer `doing`: retried or finished meanwhile
        retried += 1
        log.warning("job %s: its worker stopped beating; retried", job.id)
    return retried
