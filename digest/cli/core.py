"""init, fetch, send, status."""

from __future__ import annotations

import sys

import typer
from rich.progress import Progress
from rich.table import Table

from digest.cli.common import (
    UserError,
    app,
    console,
    err_console,
    parse_date,
    runtime,
    utcnow,
)
from digest.cli.delivery_status import print_delivery
from digest.db.engine import open_engine, upgrade
from digest.ingest import fetch_all, select_sources
from digest.mail.base import AuthError
from digest.send import SendOptions, run_send
from digest.store import editions as edition_store
from digest.store.delivery_status import delivery_status
from digest.store.fetch_state import all_states
from digest.store.papers import count_papers
from digest.store.subscribers import get_subscriber, list_subscribers


@app.command()
def init() -> None:
    """Create the database, or migrate it to the current schema.

    Example: digest init
    """
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
    source: list[str] = typer.Option(None, "--source", "-s", help="Only this source (repeatable)."),
    date: str = typer.Option(None, help="The source's own listing date, YYYY-MM-DD."),
) -> None:
    """Gather the day's listings from the configured sources.

    Reports per source: fetched, new, updated, skipped (with reasons). A source
    that fails is named with the reason; the others still count, and the exit
    status is 1.

    Example: digest fetch --source hf --date 2026-11-20
    """
    rt = runtime()
    listing_date = parse_date(date)
    sources = select_sources(rt.settings, source)
    if not sources:
        raise UserError("no sources are enabled: add [[sources]] to the config file")
    with rt.fetcher() as fetcher:
        reports = fetch_all(
            rt.engine, rt.settings, fetcher, sources, now=utcnow(), listing_date=listing_date
        )
    failed = False
    for r in reports:
        if r.error:
            failed = True
            err_console.print(f"{r.name}: FAILED: {r.error}", markup=False)
            continue
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
    if failed:
        raise typer.Exit(1)


@app.command()
def send(
    date: str = typer.Option(
        None, help="Send the editions whose local date is D (weekly: its week)."
    ),
    now: bool = typer.Option(False, "--now", help="Treat every delivery hour as reached."),
    only: str = typer.Option(None, help="Only this subscriber's edition."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be sent; send nothing."),
    resend_unknown: bool = typer.Option(
        False,
        "--resend-unknown",
        help="Also send again the editions left `unknown` (maybe delivered; see digest status).",
    ),
) -> None:
    """Send every edition that is due and not yet sent. Running it twice sends
    nothing twice. A run that died is recovered first: nobody loses an edition.

    Example: digest send --now --only ada@example.org --dry-run
    """
    rt = runtime()
    if only:
        from digest.subscriber_input import normalize_email

        only = normalize_email(only)
        with rt.engine.begin() as conn:
            subscriber = get_subscriber(conn, only)
        if subscriber is None:
            raise UserError(f"--only: no subscriber {only}")
        only = subscriber.email
    options = SendOptions(
        now=utcnow(),
        on_date=parse_date(date),
        force_hour=now,
        only=only,
        dry_run=dry_run,
        send_empty=rt.settings.send_empty,
        retention_days=rt.settings.retention_days,
        resend_unknown=resend_unknown,
        send_rate=rt.settings.send_rate,
    )
    mailer = rt.mailer()
    try:
        report = _send_with_progress(rt, mailer, options)
    except AuthError as exc:  # the provider refused our credentials: one line, exit 1
        raise UserError(str(exc)) from None
    finally:
        mailer.close()
    for planned in report.planned:
        console.print(
            f"would send {planned.period} to subscriber {planned.subscriber.id}: "
            f"{planned.digest.paper_count} papers",
            markup=False,
        )
    if report.recovered:
        recovered = ", ".join(f"{n} {k}" for k, n in sorted(report.recovered.items()))
        console.print(f"Recovered interrupted runs first: {recovered}.", markup=False)
    console.print(f"Send: {report.line()}.", markup=False)
    if report.counts["failed"] or report.counts["unknown"] or report.counts["released"]:
        raise typer.Exit(1)


def _send_with_progress(rt, mailer, options):
    if not sys.stderr.isatty():
        return run_send(rt.engine, mailer, options, site=rt.site, secret=rt.secret)
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task("Sending", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return run_send(
            rt.engine, mailer, options, site=rt.site, secret=rt.secret, progress=advance
        )


@app.command()
def status(
    as_json: bool = typer.Option(False, "--json", help="Print the delivery report as JSON."),
) -> None:
    """Last fetches, last sends, counts and failures.

    Example: digest status
    """
    rt = runtime()
    with rt.engine.begin() as conn:
        states = all_states(conn)
        papers = count_papers(conn)
        subs = list_subscribers(conn)
        counts = edition_store.status_counts(conn)
        recent = edition_store.recent_editions(conn, 10)
        delivery = delivery_status(conn, now=utcnow())
    if as_json:
        report = {"sources": states, "papers": papers, "editions": counts, "delivery": delivery}
        console.print_json(data=report, default=str)
        return
    table = Table(title="Sources")
    for column in ("source", "last success", "last attempt", "last report", "last error"):
        table.add_column(column)
    for s in states:
        report = s.get("last_report") or {}
        table.add_row(
            s["source"],
            _when(s.get("last_success_at")),
            _when(s.get("last_attempt_at")),
            ", ".join(f"{k} {v}" for k, v in report.items() if k != "not_modified"),
            s.get("last_error") or "",
        )
    console.print(table)
    by_status = {}
    for sub in subs:
        by_status[sub.status] = by_status.get(sub.status, 0) + 1
    console.print(f"Papers: {papers}", markup=False)
    console.print(
        "Subscribers: " + (", ".join(f"{n} {k}" for k, n in sorted(by_status.items())) or "none"),
        markup=False,
    )
    console.print(
        "Editions: " + (", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none"),
        markup=False,
    )
    for e in recent:
        when = _when(e["claimed_at"])
        line = f"  {when} subscriber {e['subscriber_id']} {e['period']}: {e['status']}"
        if e.get("error"):
            line += f" ({e['error']})"
        console.print(line, markup=False)
    print_delivery(delivery)

    from digest.cli.run import print_scheduler_status

    print_scheduler_status(rt.engine)


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"
