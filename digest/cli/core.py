"""init, fetch, send. Heavy modules are imported inside each command."""

from __future__ import annotations

import sys

import typer

from digest.cli.common import (
    UserError,
    app,
    console,
    err_console,
    parse_date,
    runtime,
    utcnow,
)
from digest.cli.output import print_json

JsonFlag = typer.Option(False, "--json", help="Print the result as JSON.")


@app.command()
def init() -> None:
    """Create the database, or migrate it to the current schema.

    Example: digest init
    """
    from digest.db.engine import open_engine, upgrade

    settings = runtime().settings
    before, after = upgrade(open_engine(settings.database_url))
    if before == after:
        console.print(f"Database is up to date (schema {after}).")
    elif before is None:
        console.print(f"Created the database (schema {after}).")
    else:
        console.print(f"Migrated the database from schema {before} to {after}.")


@app.command()
def fetch(
    source: list[str] = typer.Option(
        None, "--source", "-s", metavar="NAME", help="Only this source (repeatable)."
    ),
    date: str = typer.Option(
        None, metavar="YYYY-MM-DD", help="The source's own listing date (default: the latest)."
    ),
    as_json: bool = JsonFlag,
) -> None:
    """Gather the day's listings from the configured sources.

    Reports per source: fetched, new, updated, skipped (with reasons). A source
    that fails is named with the reason; the others still count, and the exit
    status is 1. Says on stderr which source it is waiting for.

    Example: digest fetch --source hf --date 2026-11-20
    """
    from digest.cli.fetch_report import explain_failure
    from digest.ingest import fetch_one, select_sources

    rt = runtime()
    listing_date = parse_date(date)
    sources = select_sources(rt.settings, source)
    if not sources:
        raise UserError("no sources are enabled: add [[sources]] to the config file")
    token = rt.settings.hf_token.get_secret_value() if rt.settings.hf_token else None
    reports = []
    with rt.fetcher() as fetcher:
        for cfg in sources:
            err_console.print(f"fetching {cfg.name} ({cfg.url}) …", markup=False)
            reports.append(
                fetch_one(
                    rt.engine, fetcher, cfg, now=utcnow(), listing_date=listing_date, hf_token=token
                )
            )
    failed = any(r.error for r in reports)
    if as_json:
        print_json(
            [
                {
                    **r.as_dict(),
                    "source": r.name,
                    "skipped_reasons": r.skipped,
                    "notes": r.notes,
                    "error": explain_failure(r.name, r.error) if r.error else None,
                }
                for r in reports
            ]
        )
    else:
        for r in reports:
            _print_fetch_report(r, explain_failure)
    if failed:
        raise typer.Exit(1)


def _print_fetch_report(r, explain_failure) -> None:
    if r.error:
        err_console.print(f"{r.name}: FAILED: {explain_failure(r.name, r.error)}", markup=False)
        return
    status = " (not modified)" if r.not_modified else ""
    console.print(
        f"{r.name}: fetched {r.fetched}, new {r.new}, updated {r.updated}, "
        f"skipped {len(r.skipped)}{status}",
        markup=False,
    )
    for reason in r.skipped[:20]:
        console.print(f"  skipped: {reason}", markup=False)
    if len(r.skipped) > 20:
        console.print(f"  … and {len(r.skipped) - 20} more skipped", markup=False)
    for note in r.notes:
        console.print(f"  note: {note}", markup=False)


@app.command()
def send(
    date: str = typer.Option(
        None,
        metavar="YYYY-MM-DD",
        help="Send the editions whose local date is this day (weekly: its week).",
    ),
    now: bool = typer.Option(False, "--now", help="Treat every delivery hour as reached."),
    only: str = typer.Option(None, metavar="EMAIL", help="Only this subscriber's edition."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would be sent, classified as the real run would."
    ),
    resend_unknown: bool = typer.Option(
        False,
        "--resend-unknown",
        help="Also send again the editions left `unknown` (maybe delivered; see digest status).",
    ),
    processes: int = typer.Option(
        None,
        "--processes",
        min=1,
        max=64,
        help="Share the send among this many processes (default: send_processes, 1).",
    ),
    as_json: bool = JsonFlag,
) -> None:
    """Send every edition that is due and not yet sent. Running it twice sends
    nothing twice. A run that died is recovered first: nobody loses an edition.
    `digest status` shows the outcome of the last run.

    Example: digest send --now --only ada@example.org --dry-run
    """
    from digest.cli.send_run import describe_planned, send_and_record
    from digest.shutdown import Signals

    rt = runtime()
    only_email = _only(rt, only) if only else None
    # SIGTERM/SIGINT: stop between subscribers and provider calls, the call in
    # flight recorded, what is held released; a second signal exits at once.
    signals = Signals().install()
    report, record = send_and_record(
        rt,
        now=utcnow(),
        on_date=parse_date(date),
        force_hour=now,
        only=only_email,
        dry_run=dry_run,
        resend_unknown=resend_unknown,
        progress=not as_json and sys.stderr.isatty(),
        processes=processes,
        stop=signals.stopping,
    )
    failed = bool(report.counts["failed"] or report.counts["unknown"] or report.counts["released"])
    if as_json:
        print_json(
            {
                "dry_run": dry_run,
                "counts": dict(report.counts),
                "recovered": dict(report.recovered),
                "editions": [describe_planned(p, rt.settings.send_empty) for p in report.planned],
                "problems": record["problems"] if record else [],
                "stopped_by": signals.name() or None,
            }
        )
    else:
        for planned in report.planned:
            entry = describe_planned(planned, rt.settings.send_empty)
            what = (
                f"would send {entry['papers']} papers"
                if entry["class"] == "would-send"
                else "empty: nothing would be sent"
            )
            console.print(f"{entry['period']} for {entry['subscriber']}: {what}", markup=False)
        if report.recovered:
            recovered = ", ".join(f"{n} {k}" for k, n in sorted(report.recovered.items()))
            console.print(f"Recovered interrupted runs first: {recovered}.", markup=False)
        label = "Send (dry run)" if dry_run else "Send"
        console.print(f"{label}: {report.line()}.", markup=False)
        for problem in (record or {}).get("problems", []):
            err_console.print(f"  {problem}", markup=False)
    if signals.stopping():
        err_console.print(
            f"Stopped by {signals.name()}: every provider call made is recorded; "
            f"{report.counts['released']} claimed editions were released, and they and the "
            "subscribers not reached are the next run's to send.",
            markup=False,
        )
        raise typer.Exit(128 + signals.received)
    if failed:
        raise typer.Exit(1)


def _only(rt, only: str) -> str:
    from digest.cli.lookup import find_subscriber

    with rt.engine.begin() as conn:
        subscriber, address = find_subscriber(conn, only)
    if subscriber is None:
        raise UserError(f"--only: no subscriber {address}")
    return subscriber.email
