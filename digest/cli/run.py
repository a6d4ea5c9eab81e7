"""run (the scheduler), and the scheduler lines of `digest status`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from digest.cli.common import app, console, runtime

if TYPE_CHECKING:
    from sqlalchemy import Engine


@app.command()
def run() -> None:
    """Run the scheduler in the foreground until SIGTERM or SIGINT: fetch each
    source on its schedule, send each edition when its subscriber's local hour
    comes, tidy up daily. A second `digest run` on the same database waits as a
    standby and takes over if the first one dies.

    Example: digest --config digest.toml run
    """
    from digest.runner import run_scheduler

    raise typer.Exit(run_scheduler(runtime()))


def scheduler_status(engine: Engine) -> dict:
    """Who holds the scheduler lock (and whether it is alive), and each job's
    next run, as plain data."""
    # Not digest.runner: it loads the fetchers and the scheduler (cold start).
    from digest.locks import SCHEDULER_LOCK, is_held
    from digest.store.scheduler import next_runs, read_holder

    with engine.begin() as conn:
        holder = read_holder(conn)
        jobs = next_runs(conn)
    return {
        "running": is_held(engine, SCHEDULER_LOCK),
        "holder": holder.label() if holder else None,
        "jobs": {job_id: when for job_id, when in jobs},
    }


def print_scheduler_status(status: dict) -> None:
    holder = status["holder"]
    if status["running"]:
        who = holder or "a process that has not recorded itself yet"
        console.print(f"Scheduler: running ({who})", markup=False, emoji=False)
    elif holder is not None:
        console.print(f"Scheduler: not running (last: {holder}, gone)", markup=False, emoji=False)
    else:
        console.print(
            "Scheduler: not running (start it with `digest run`)", markup=False, emoji=False
        )
    for job_id, when in status["jobs"].items():
        shown = f"{when:%Y-%m-%d %H:%M} UTC" if when else "paused"
        console.print(f"  {job_id}: next run {shown}", markup=False, emoji=False)
