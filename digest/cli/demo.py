"""digest demo."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

import typer

from digest.cli.common import UserError, app, console, runtime, state

DEMO_DB = Path("digest-demo.db")


@app.command(short_help="The whole daily flow offline, on the bundled samples.")
def demo(
    database: Path = typer.Option(
        DEMO_DB, metavar="FILE", help="SQLite file to (re)create for the demo.", show_default=True
    ),
) -> None:
    """Run the whole daily flow offline on the bundled sample listings: load two
    days of arXiv and Hugging Face papers, create three sample subscribers and
    write their digests to the outbox. Needs no network and no keys; writes
    the database and outbox/ in the current folder, then prints commands to
    explore them.

    Example: digest demo
    """
    import logging

    settings = runtime().settings
    if settings.log_level == "INFO":
        # The demo prints its own account of each step; per-edition log lines would drown it.
        logging.getLogger().setLevel("WARNING")
    outbox = Path(settings.outbox_dir)
    check_writable(database, outbox)
    days = _run(database, outbox, settings)
    console.print()
    count = sum(len(f) for _, f in days)
    console.print(f"Digests written to {outbox.resolve()}/ ({count} .eml files).", markup=False)
    console.print(
        f"Open {(outbox / 'index.html').resolve()} to see them side by side.", markup=False
    )
    console.print(f"Demo database: {database.resolve()}", markup=False)
    console.print()
    console.print("Explore it (copy and paste):", markup=False)
    for line in explore_commands(database):
        console.print(f"  {line}", markup=False)


def _run(database: Path, outbox: Path, settings) -> list[tuple[str, list[Path]]]:
    from digest.db.engine import open_engine, upgrade
    from digest.demo import DAYS, add_sample_subscribers, load_day, replay_time, send_day
    from digest.demo import outbox_files as files_in
    from digest.demo_index import write_index
    from digest.mail.outbox import OutboxMailer
    from digest.store.meta import ensure_secret_key
    from digest.wiring import site_info

    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    engine = open_engine(f"sqlite:///{database}")
    upgrade(engine)
    secret = ensure_secret_key(engine)
    site = site_info(settings)
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
        before = {f: f.stat().st_mtime_ns for f in files_in(outbox)}
        report = send_day(
            engine, mailer, day, site=site, secret=secret, send_empty=settings.send_empty
        )
        written = [f for f in files_in(outbox) if before.get(f) != f.stat().st_mtime_ns]
        console.print(f"  digests: {report.line()}", markup=False)
        _record(engine, report, replay_time(day))
        days.append((f"Day {number}: {day}", written))
    write_index(outbox, days)
    engine.dispose()
    return days


def _record(engine, report, when) -> None:
    """Keep the replayed send as the last send run, as `digest send` would."""
    from digest.status import record_send

    ok = not any(report.counts[k] for k in ("failed", "unknown", "released"))
    record_send(
        engine,
        {
            "started_at": when.isoformat(),
            "finished_at": when.isoformat(),
            "ok": ok,
            "summary": report.line(),
            "counts": dict(report.counts),
            "only_one_subscriber": False,
            "problems": [],
        },
    )


def check_writable(database: Path, outbox: Path) -> None:
    """Fail with one line, before anything is written, when the demo's database
    folder or outbox cannot be written."""
    for folder, what in ((database.resolve().parent, str(database)), (outbox, f"{outbox}/")):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / ".digest-demo-write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise UserError(
                f"digest demo writes {what} in {folder}, which cannot be written ({reason}): "
                "run it in a folder you can write to (or pass --database FILE and set "
                "DIGEST_OUTBOX_DIR)"
            ) from None


def digest_invocation() -> str:
    """How to run this same `digest` again from the current folder: "digest"
    when that is on PATH, else the script's path as typed (".venv/bin/digest"),
    else "python -m digest"."""
    script = Path(sys.argv[0])
    if script.name == "digest" and script.exists():
        on_path = shutil.which("digest")
        if on_path and Path(on_path).resolve() == script.resolve():
            return "digest"
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m digest"


def explore_commands(database: Path) -> list[str]:
    """Shell lines that work as printed, in order, from the current folder."""
    digest = digest_invocation()
    if state.config_path:
        digest += f" --config {shlex.quote(str(Path(state.config_path).resolve()))}"
    url = f"sqlite:///{database.resolve()}"
    return [
        f"export DIGEST_DATABASE_URL={shlex.quote(url)}",
        f"{digest} status",
        f"{digest} subscribers list",
        f"{digest} sent ada@example.org",
        f"{digest} preview --email ada@example.org --date 2026-11-20 --format text",
        f"{digest} preview --topic robotics --date 2026-11-20 --format text",
    ]


def _print_papers(engine) -> None:
    from digest.store.papers import list_papers

    with engine.begin() as conn:
        stored = list_papers(conn)
    for paper in stored:
        key = paper.key
        category = paper.primary_category or "-"
        votes = f" ▲{paper.upvotes}" if paper.upvotes else ""
        console.print(f"    {key:<12} {category:<10} {paper.title[:70]}{votes}", markup=False)
