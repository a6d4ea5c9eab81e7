"""digest status: renders `digest.status.collect` as tables, tab-separated
lines or JSON. A new field in `collect` shows up in `--json` by itself; give it
a line or a table here to show it to people too."""

from __future__ import annotations

from typing import Any

import typer

from digest.cli.common import app, console, runtime
from digest.cli.output import cell, print_json, print_table


@app.command(short_help="Last fetches, the last send, counts and failures.")
def status(as_json: bool = typer.Option(False, "--json", help="Print the status as JSON.")) -> None:
    """Last fetches per source, the last send run's outcome, counts, recent
    editions, editions by state per period, failures and `unknown`s with what
    to do, the scheduler: who holds it and each job's next run, and on
    PostgreSQL the send queue: jobs waiting and running, workers seen recently.
    Subscribers appear as #id and a masked address.

    Example: digest status --json
    """
    from digest.cli.delivery_status import print_delivery
    from digest.cli.run import print_scheduler_status, scheduler_status
    from digest.status import collect
    from digest.triggers import parse_duration

    rt = runtime()
    within = parse_duration(rt.settings.queue.stalled_after).total_seconds()
    with rt.engine.begin() as conn:
        data = collect(conn, workers_within=within)
    data["scheduler"] = scheduler_status(rt.engine)
    data["send_queue"] = rt.settings.send_queue
    if as_json:
        print_json(data)
        return
    show(data)
    print_delivery(data["delivery"])
    print_scheduler_status(data["scheduler"])
    print_queue(data["queue"], data["send_queue"])


def show(data: dict[str, Any]) -> None:
    print_table(
        ("source", "last success", "last attempt", "last report", "last error"),
        [
            (
                s["source"],
                s["last_success_at"] or "never",
                s["last_attempt_at"] or "never",
                ", ".join(f"{k} {v}" for k, v in s["last_report"].items()),
                s["last_error"],
            )
            for s in data["sources"]
        ],
        title="Sources",
    )
    console.print(f"Papers: {data['papers']}", markup=False)
    console.print(f"Subscribers: {_counts(data['subscribers']) or 'none'}", markup=False)
    console.print(f"Editions: {_counts(data['editions']) or 'none'}", markup=False)
    console.print(f"Last send: {_last_send(data['last_send'])}", markup=False)
    for problem in (data["last_send"] or {}).get("problems", []):
        console.print(f"  {problem}", markup=False)
    if data["recent_editions"]:
        print_table(
            ("claimed", "subscriber", "period", "status", "papers", "error"),
            [
                (
                    e["claimed_at"],
                    e["subscriber"],
                    e["period"],
                    e["status"],
                    e["papers"],
                    e["error"],
                )
                for e in data["recent_editions"]
            ],
            title="Recent editions",
            whole=(0, 1, 2, 3, 4),
        )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in counts.items())


def _last_send(record: dict[str, Any] | None) -> str:
    if not record:
        return "never"
    when = cell(record["finished_at"]).replace("T", " ")[:16] + " UTC"
    outcome = "ok" if record["ok"] else "FAILED (exit status 1)"
    return f"{when}: {record['summary']} — {outcome}"


def print_queue(queue: dict[str, Any] | None, mode: str) -> None:
    """The send queue's lines (PostgreSQL only; nothing on SQLite)."""
    if queue is None:
        return
    idle = not (queue["waiting"] or queue["running"] or queue["workers"])
    if mode != "procrastinate" and idle:
        return  # sending in-process, and nothing left in the queue
    how = "queued for workers" if mode == "procrastinate" else "unused: sending in-process"
    console.print(
        f"Send queue ({how}): {queue['waiting']} jobs waiting, {queue['running']} running"
        + (f", {queue['failed']} failed" if queue["failed"] else ""),
        markup=False,
    )
    workers = queue["workers"]
    within = f"{queue['workers_within_s']:g}s"
    if not workers:
        hint = " (start `digest worker`)" if mode == "procrastinate" else ""
        console.print(f"  workers seen in the last {within}: none{hint}", markup=False)
        return
    seen = ", ".join(f"#{w['id']} {w['age_s']:g}s ago" for w in workers)
    console.print(f"  workers seen in the last {within}: {len(workers)} ({seen})", markup=False)
