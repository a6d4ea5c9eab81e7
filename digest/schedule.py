"""The APScheduler scheduler of `digest run` and the jobs it holds.

- Jobs live in a persistent `SQLAlchemyJobStore` in the application database
  (table `apscheduler_jobs`, created by migration 0005), so a restart knows
  when each job last should have run.
- Every job coalesces (a backlog of missed runs runs once), runs at most one
  instance at a time, and may start up to DIGEST_MISFIRE_GRACE_HOURS late;
  a run later than that is skipped and the job waits for its next time.
- On start the configured jobs replace the stored ones and stored jobs no
  longer configured are removed. A job whose schedule did not change keeps its
  stored next run time: a run missed while the scheduler was down still happens
  (once) when it comes back, within the grace time.
- Fetch jobs run in their own one-thread executor, one after another (they
  share one polite HTTP client); the send tick and housekeeping in another.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.util import undefined
from sqlalchemy import Engine

from digest.config import Settings
from digest.db.schema import apscheduler_jobs
from digest.triggers import interval_trigger, parse_duration, parse_schedule, source_schedule

log = logging.getLogger("digest.schedule")

SEND_JOB = "send"
HOUSEKEEPING_JOB = "housekeeping"


@dataclass(frozen=True)
class JobSpec:
    """One configured job: what runs (a module path), when, with which arguments."""

    id: str
    func: str
    trigger: BaseTrigger
    kwargs: dict = field(default_factory=dict)
    executor: str = "default"

    def same_as(self, job: Job) -> bool:
        """Whether a stored job is this one, schedule included."""
        return (
            job.func_ref == self.func
            and dict(job.kwargs) == self.kwargs
            and job.executor == self.executor
            and repr(job.trigger) == repr(self.trigger)
        )


def job_specs(settings: Settings) -> list[JobSpec]:
    """The jobs the settings call for: one fetch per enabled source with a
    schedule, the send tick, and housekeeping."""
    specs = []
    for source in settings.sources:
        trigger = parse_schedule(source_schedule(source.kind, source.schedule))
        if source.enabled and trigger is not None:
            specs.append(
                JobSpec(
                    f"fetch:{source.name}",
                    "digest.jobs:fetch_source",
                    trigger,
                    {"source": source.name},
                    executor="fetch",
                )
            )
    every = parse_duration(settings.scheduler.send_every)
    specs.append(JobSpec(SEND_JOB, "digest.jobs:send_tick", interval_trigger(every)))
    tidy = parse_schedule(settings.scheduler.housekeeping)
    if tidy is not None:
        specs.append(JobSpec(HOUSEKEEPING_JOB, "digest.jobs:housekeeping", tidy))
    return specs


class Scheduler(BackgroundScheduler):
    """APScheduler's background scheduler, minus one race: its loop thread,
    woken by `shutdown()`, would process due jobs once more after the executors
    stopped, failing to submit them yet moving their next run time on (a run
    lost). Here a stopped scheduler processes nothing."""

    def _process_jobs(self):
        if self.state == STATE_STOPPED:
            return None
        return super()._process_jobs()


def build_scheduler(engine: Engine, settings: Settings) -> Scheduler:
    store = SQLAlchemyJobStore(engine=engine, tablename=apscheduler_jobs.name)
    return Scheduler(
        jobstores={"default": store},
        executors={"default": ThreadPoolExecutor(2), "fetch": ThreadPoolExecutor(1)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(settings.misfire_grace_hours * 3600),
        },
        timezone=UTC,
    )


def sync_jobs(scheduler: BackgroundScheduler, specs: list[JobSpec]) -> None:
    """Make the store hold exactly `specs` (the scheduler must be started,
    ideally paused). An unchanged job keeps its stored next run time."""
    stored = {job.id: job for job in scheduler.get_jobs()}
    wanted = {spec.id for spec in specs}
    for job_id in stored.keys() - wanted:
        scheduler.remove_job(job_id)
        log.info("removed job %s: no longer configured", job_id)
    for spec in specs:
        before = stored.get(spec.id)
        keep = before is not None and before.next_run_time is not None and spec.same_as(before)
        scheduler.add_job(
            spec.func,
            spec.trigger,
            id=spec.id,
            name=spec.id,
            kwargs=spec.kwargs,
            executor=spec.executor,
            replace_existing=True,
            next_run_time=before.next_run_time if keep else undefined,
        )
