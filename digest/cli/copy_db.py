"""copy-db: move every row from one database to another (SQLite -> PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from digest.cli.common import app, console, err_console

if TYPE_CHECKING:
    from sqlalchemy import Engine


@app.command("copy-db")
def copy_db(
    source: str = typer.Option(
        ..., "--from", metavar="URL", help="URL of the database to copy from."
    ),
    target: str = typer.Option(
        ..., "--to", metavar="URL", help="URL of an empty database on which `digest init` has run."
    ),
) -> None:
    """Copy every table from one database into another, e.g. from SQLite to
    PostgreSQL. Both must be at the current schema and the target empty; the
    copy is one transaction on the target, and the stored secret key comes along
    so links already sent keep working. Stop the scheduler and web app first.

    Example: digest copy-db --from sqlite:///digest.db --to postgresql://digest@db/digest
    """
    from digest.copy_db import copy_database

    src, dst = _open(source, "--from"), _open(target, "--to")
    try:
        report = copy_database(src, dst)
    finally:
        src.dispose()
        dst.dispose()
    for name in report.skipped:
        err_console.print(
            f"warning: skipped table {name}: not part of digest's schema", markup=False
        )
    for name, count in report.rows.items():
        console.print(f"{name}: {count} rows", markup=False)
    if report.secret_key:
        console.print("The stored secret key was copied: sent links keep working.", markup=False)
    console.print(f"Copied {sum(report.rows.values())} rows.", markup=False)


def _open(url: str, side: str) -> Engine:
    from sqlalchemy.engine import make_url

    from digest.copy_db import CopyError
    from digest.db.engine import SchemaError, open_engine

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - any parse failure is a bad URL; never echo it
        raise CopyError(f"{side}: not a database URL (e.g. sqlite:///digest.db)") from None
    # SQLite would create a missing file; a typo must not look like an empty database.
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite and not (parsed.database and Path(parsed.database).is_file()):
        raise CopyError(f"{side}: no SQLite database at {parsed.database or '(no path)'}")
    try:
        return open_engine(url)
    except SchemaError:
        raise CopyError(f"{side}: not a usable database URL (e.g. sqlite:///digest.db)") from None
