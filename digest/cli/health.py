"""health: the check containers and service managers run."""

from __future__ import annotations

import typer

from digest.cli.common import UserError, app, console, runtime


@app.command()
def health(
    url: str = typer.Option(
        None,
        "--url",
        metavar="URL",
        help="Also require this URL to answer without an error (the web app).",
    ),
) -> None:
    """Exit 0 when the database answers at the current schema (and --url answers
    with a status below 400); otherwise print one line and exit 1. For Docker's
    HEALTHCHECK and service monitors; it changes nothing.

    Example: digest health --url http://127.0.0.1:8000/
    """
    import httpx

    from digest.db.engine import current_revision

    engine = runtime().engine  # opens the database and checks its schema
    try:
        line = f"ok: database at schema {current_revision(engine)}"
    finally:
        engine.dispose()
    if url:
        try:
            status = httpx.get(url, timeout=5.0, follow_redirects=False).status_code
        except (httpx.HTTPError, ValueError) as exc:
            raise UserError(f"--url: no answer ({type(exc).__name__})") from None
        if status >= 400:
            raise UserError(f"--url: answered HTTP {status}")
        line += f"; web app answered HTTP {status}"
    console.print(line, markup=False)
