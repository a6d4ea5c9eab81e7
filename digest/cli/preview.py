"""digest preview."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from digest.cli.common import UserError, app, err_console, parse_date, runtime, utcnow

FORMATS = ("html", "text", "eml", "mjml")
SUFFIXES = {"html": ".html", "text": ".txt", "eml": ".eml", "mjml": ".mjml"}


@app.command(short_help="What `send` would send, recording nothing.")
def preview(
    email: str = typer.Option(
        None, metavar="EMAIL", help="Preview the edition `send` would send this subscriber."
    ),
    topic: list[str] = typer.Option(
        None, "--topic", metavar="SLUG", help="Preview for a new subscriber to these topics."
    ),
    date: str = typer.Option(
        None,
        metavar="YYYY-MM-DD",
        help="With --email: that day's edition (as sent, if it was). With --topic: what a "
        "new subscriber would have got that day.",
    ),
    now: bool = typer.Option(
        False, "--now", help="With --email: what `send --now` would send (hour taken as reached)."
    ),
    fmt: str = typer.Option(
        "html", "--format", metavar="html|text|eml|mjml", help="Output format.", show_default=True
    ),
    output: Path = typer.Option(
        None, "--output", "-o", metavar="FILE", help="Write to this file instead of stdout."
    ),
    open_: bool = typer.Option(False, "--open", help="Open the result in a browser."),
) -> None:
    """Show exactly what `send` would send, without sending or recording
    anything. Notes (nothing due yet, already sent) go to stderr.

    Example: digest preview --topic computer-vision --topic robotics --format text
    """
    if bool(email) == bool(topic):
        raise UserError("give either --email or --topic")
    if now and not email:
        raise UserError("--now works with --email")
    if fmt not in FORMATS:
        raise UserError(f"--format: must be one of {', '.join(FORMATS)}")
    on_date = parse_date(date)
    from digest.previews import plan_for_email, plan_for_topics, preview_message

    rt = runtime()
    with rt.engine.begin() as conn:
        if email:
            from digest.cli.lookup import find_subscriber

            subscriber, address = find_subscriber(conn, email)
            shown = plan_for_email(
                conn,
                subscriber.email if subscriber else address,
                now=utcnow(),
                on_date=on_date,
                retention_days=rt.settings.retention_days,
                force_hour=now,
            )
            planned, note = shown.planned, shown.note
        else:
            from digest.topics import get_topic

            for slug in topic:
                get_topic(slug)
            planned, note = (
                plan_for_topics(
                    conn,
                    topic,
                    now=utcnow(),
                    on_date=on_date,
                    retention_days=rt.settings.retention_days,
                ),
                None,
            )
    if note:
        err_console.print(note, markup=False)
    if planned.empty and not rt.settings.send_empty:
        err_console.print(
            f"Nothing new for {planned.period}: `send` would send nothing "
            "(set DIGEST_SEND_EMPTY=true to send a short note instead).",
            markup=False,
        )
        return
    message = preview_message(planned, rt.site, rt.secret)
    data = _formatted(message, fmt, planned, rt)
    _write(data, output, open_, fmt)


def _write(data: bytes, output: Path | None, open_: bool, fmt: str) -> None:
    if output is None and open_:
        import tempfile

        output = Path(tempfile.mkstemp(prefix="digest-preview-", suffix=SUFFIXES[fmt])[1])
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise UserError(f"--output: cannot write {output}: {exc.strerror or exc}") from None
    err_console.print(f"Wrote {output}", markup=False)
    if open_:
        import webbrowser

        webbrowser.open(output.resolve().as_uri())


def _formatted(message, fmt: str, planned, rt) -> bytes:
    if fmt == "html":
        if message.html is None:
            raise UserError("this subscriber gets text-only mail: use --format text")
        return message.html.encode("utf-8")
    if fmt == "text":
        return message.text.encode("utf-8")
    if fmt == "mjml":
        from digest.delivery import recipient_for
        from digest.render import mjml_source

        return mjml_source(
            planned.digest, rt.site, recipient_for(planned, rt.site, rt.secret)
        ).encode("utf-8")
    from digest.mail.message import build_email, email_bytes

    return email_bytes(build_email(message, rt.settings.sender))
