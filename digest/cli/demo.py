"""digest demo."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from digest.cli.common import app, console, runtime
from digest.db.engine import open_engine, upgrade
from digest.demo import DAYS, add_sample_subscribers, load_day, outbox_files, replay_time, send_day
from digest.demo_index import write_index
from digest.mail.outbox import OutboxMailer
from digest.store.meta import ensure_secret_key
from digest.store.papers import list_papers
from digest.wiring import site_info

DEMO_DB = Path("digest-demo.db")


@app.command()
def demo(
    database: Path = typer.Option(DEMO_DB, help="SQLite file to (re)create for the demo."),
) -> None:
    """Run the whole daily flow offline on the bundled sample listings: load two
    days of arXiv and Hugging Face papers, create three sample subscribers and
    write their digests to the outbox. Needs no network and no keys.

    Example: digest demo
    """
    settings = runtime().settings
    if settings.log_level == "INFO":
        # The demo prints its own account of each step; per-edition log lines would drown it.
        logging.getLogger().setLevel("WARNING")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    engine = open_engine(f"sqlite:///{database}")
    upgrade(engine)
    secret = ensure_secret_key(engine)
    site = site_info(settings)
    outbox = Path(settings.outbox_dir)
    mailer = OutboxMailer(outbox, settings.sender)
    days = []
    for number, day in enumerate(DAYS, 1):
        reports = load_day(engine, day)
        console.print(f"[bold]Day {number}: {day}[/bold] — loaded the bundled listings")
        for r in reports:
            console.print(
                f"  {r.name}: fetched {r.fetched}, new {r.new}, updated {r.updated}", markup=False
            )
        if number == 1:
            _print_papers(engine)
            add_sample_subscribers(engine, replay_time(day))
        # File names follow edition ids, which restart with the fresh database:
        # a file rewritten by this demo counts as new.
        before = {f: f.stat().st_mtime_ns for f in outbox_files(outbox)}
        report = send_day(
            engine, mailer, day, site=site, secret=secret, send_empty=settings.send_empty
        )
        written = [f for f in outbox_files(outbox) if before.get(f) != f.stat().st_mtime_ns]
        console.print(f"  digests: {report.line()}", markup=False)
        days.append((f"Day {number}: {day}", written))
    index = write_index(outbox, days)
    console.print()
    console.print(
        f"Digests written to {outbox.resolve()}/ ({sum(len(f) for _, f in days)} .eml files).",
        markup=False,
    )
    console.print(f"Open {index.resolve()} to see them side by side.", markup=False)
    console.print(f"Demo database: {database.resolve()}", markup=False)
    env = f"DIGEST_DATABASE_URL=sqlite:///{database}"
    console.print(f"Explore it: {env} digest status", markup=False)
    console.print(f"       and: {env} digest preview --topic robotics --format text", markup=False)


def _print_papers(engine) -> None:
    with engine.begin() as conn:
        stored = list_papers(conn)
    for paper in stored:
        key = paper.key
        category = paper.primary_category or "-"
        votes = f" ▲{paper.upvotes}" if paper.upvotes else ""
        console.print(f"    {key:<12} {category:<10} {paper.title[:70]}{votes}", markup=False)
