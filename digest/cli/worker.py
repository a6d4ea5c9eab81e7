"""worker: run the send queue's jobs (PostgreSQL)."""

from __future__ import annotations

import typer

from digest.cli.common import app, console, runtime


@app.command()
def worker(
    concurrency: int = typer.Option(
        1, "--concurrency", "-c", min=1, max=64, metavar="N", help="Jobs run at once."
    ),
) -> None:
    """Send the editions the scheduler queues, until SIGTERM or SIGINT. Run as
    many workers as the list needs, on any machine pointed at the same
    PostgreSQL database; together they keep to DIGEST_SEND_RATE. Needs
    DIGEST_SEND_QUEUE=procrastinate for `digest run` to queue its sends; on
    SQLite there is nothing to do (`digest run` sends in-process).

    Example: digest worker --concurrency 4
    """
    rt = runtime()
    if not rt.settings.database_url.startswith("postgresql"):
        console.print(
            "Nothing to do: on SQLite `digest run` sends in-process; "
            "workers need PostgreSQL and DIGEST_SEND_QUEUE=procrastinate.",
            markup=False,
        )
        return
    from digest.worker import log, run_worker

    if rt.settings.send_queue != "procrastinate":
        log.warning(
            "DIGEST_SEND_QUEUE is not procrastinate: `digest run` sends in-process and "
            "queues nothing, so this worker only runs jobs queued before"
        )
    raise typer.Exit(run_worker(rt, concurrency=concurrency))
