"""The scheduler's job store: configured jobs replace stored ones, unchanged
jobs keep their next run time across restarts, and after downtime a missed
run happens once (coalesced) within the grace time, or not at all past it."""

import dataclasses
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, EVENT_JOB_SUBMITTED

from digest.config import load_settings
from digest.schedule import JobSpec, build_scheduler, job_specs, sync_jobs
from digest.store.scheduler import next_runs
from digest.triggers import interval_trigger, parse_schedule

CALLS: list[str] = []


def record_run(label: str) -> None:
    """A job for these tests, referenced by module path like the real ones."""
    CALLS.append(label)


def settings_for(database_url, **toml):
    return load_settings(None, {"DIGEST_DATABASE_URL": database_url, **toml})


def started(engine, settings):
    scheduler = build_scheduler(engine, settings)
    scheduler.start(paused=True)
    return scheduler


def test_configured_jobs_replace_the_stored_ones(database_url, engine):
    settings = settings_for(database_url)
    scheduler = started(engine, settings)
    try:
        scheduler.add_job(
            "digest.jobs:fetch_source",
            "interval",
            minutes=5,
            id="fetch:gone",
            kwargs={"source": "gone"},
        )
        sync_jobs(scheduler, job_specs(settings))
        ids = {job.id for job in scheduler.get_jobs()}
        assert ids == {"fetch:arxiv", "fetch:hf", "send", "housekeeping"}
        job = scheduler.get_job("fetch:hf")
        assert job.func_ref == "digest.jobs:fetch_source" and job.kwargs == {"source": "hf"}
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time == 6 * 3600
    finally:
        scheduler.shutdown()
    with engine.begin() as conn:
        assert {job_id for job_id, _ in next_runs(conn)} == ids


def test_an_unchanged_job_keeps_its_stored_next_run_a_changed_one_is_rescheduled(
    database_url, engine
):
    settings = settings_for(database_url)
    missed = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
    scheduler = started(engine, settings)
    sync_jobs(scheduler, job_specs(settings))
    scheduler.modify_job("send", next_run_time=missed)
    scheduler.modify_job("fetch:hf", next_run_time=missed)
    scheduler.shutdown()

    faster = dataclasses.replace(
        settings, scheduler=dataclasses.replace(settings.scheduler, send_every="1m")
    )
    scheduler = started(engine, faster)
    try:
        sync_jobs(scheduler, job_specs(faster))
        assert scheduler.get_job("fetch:hf").next_run_time == missed  # same schedule: kept
        assert scheduler.get_job("send").next_run_time > missed + timedelta(hours=5)  # changed
    finally:
        scheduler.shutdown()


def test_after_six_hours_down_a_missed_tick_runs_once_and_a_late_fetch_is_skipped(
    database_url, engine
):
    settings = settings_for(database_url)
    now = datetime.now(UTC)
    seven_hours_ago = (now - timedelta(hours=7)).replace(second=0, microsecond=0)
    daily = f"{seven_hours_ago.minute} {seven_hours_ago.hour} * * *"
    specs = [
        JobSpec(
            "tick",
            "tests.test_schedule:record_run",
            interval_trigger(timedelta(minutes=5)),
            {"label": "tick"},
        ),
        JobSpec(
            "daily",
            "tests.test_schedule:record_run",
            parse_schedule(daily),
            {"label": "daily"},
        ),
    ]
    scheduler = started(engine, settings)
    sync_jobs(scheduler, specs)
    # The scheduler was down: the tick last ran six hours ago (72 runs missed);
    # the daily job should have run seven hours ago, past the six-hour grace.
    scheduler.modify_job("tick", next_run_time=now - timedelta(hours=6))
    scheduler.modify_job("daily", next_run_time=seven_hours_ago)
    events, done = [], threading.Event()

    def listen(event):
        events.append(event)
        seen = {(e.code, e.job_id) for e in events}
        wanted = {
            (EVENT_JOB_SUBMITTED, "tick"),
            (EVENT_JOB_EXECUTED, "tick"),
            (EVENT_JOB_MISSED, "daily"),
        }
        if wanted <= seen:
            done.set()

    scheduler.add_listener(listen, EVENT_JOB_SUBMITTED | EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)
    CALLS.clear()
    try:
        scheduler.resume()
        assert done.wait(30)
        submitted = {
            e.job_id: e.scheduled_run_times for e in events if e.code == EVENT_JOB_SUBMITTED
        }
        assert len(submitted["tick"]) == 1  # coalesced: one run for 72 missed ones
        assert CALLS == ["tick"]
        assert [e.job_id for e in events if e.code == EVENT_JOB_MISSED] == ["daily"]
        assert scheduler.get_job("daily").next_run_time > now  # waits for its next time
        assert scheduler.get_job("tick").next_run_time > now
    finally:
        scheduler.shutdown()
