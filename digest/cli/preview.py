"""digest preview."""

from __future__ import annotations

import sys
import tempfile
import webbrowser
from pathlib import Path

import typer

from digest.cli.common import (
    UserError,
    app,
    err_console,
    parse_date,
    register_user_error,
    runtime,
    utcnow,
)
from digest.mail.message import build_email, email_bytes
from digest.previews import PreviewError, plan_for_email, plan_for_topics, preview_message
from digest.render import mjml_source
from digest.subscriber_input import normalize_email
from digest.topics import UnknownTopicError, get_topic

register_user_error(PreviewError)
register_user_error(UnknownTopicError)

FORMATS = ("html", "text", "eml", "mjml")


@app.command()
def preview(
    email: str = typer.Option(None, help="Preview this subscriber's next edition."),
    topic: list[str] = typer.Option(
        None, "--topic", help="Preview for a new subscriber to these topics."
    ),
    date: str = typer.Option(None, help="With --email: the edition of this (already sent) period."),
    fmt: str = typer.Option("html", "--format", help="html, text, eml or mjml."),
    output: Path = typer.Option(
        None, "--output", "-o", help="Write to this file instead of stdout."
    ),
    open_: bool = typer.Option(False, "--open", help="Open the result in a browser."),
) -> None:
    """Show exactly what would be sent, without sending or recording anything.

    Example: digest preview --topic computer-vision --topic robotics --format text
    """
    if bool(email) == bool(topic):
        raise UserError("give either --email or --topic")
    if date and not email:
        raise UserError("--date works with --email (an edition already sent to them)")
    if fmt not in FORMATS:
        raise UserError(f"--format: must be one of {', '.join(FORMATS)}")
    rt = runtime()
    now = utcnow()
    with rt.engine.begin() as conn:
        if email:
            planned = plan_for_email(
                conn,
                normalize_email(email),
                now=now,
                on_date=parse_date(date),
                retention_days=rt.settings.retention_days,
            )
        else:
            for slug in topic:
                get_topic(slug)
            planned = plan_for_topics(
                conn, topic, now=now, retention_days=rt.settings.retention_days
            )
    if planned.empty and not rt.settings.send_empty:
        err_console.print(
            f"Nothing new for {planned.period}: `send` would send nothing "
            "(set DIGEST_SEND_EMPTY=true to send a short note instead).",
            markup=False,
        )
        return
    message = preview_message(planned, rt.site, rt.secret)
    data = _formatted(message, fmt, planned, rt)
    if output is None and open_:
        suffix = {"html": ".html", "text": ".txt", "eml": ".eml", "mjml": ".mjml"}[fmt]
        output = Path(tempfile.mkstemp(prefix="digest-preview-", suffix=suffix)[1])
    if output is None:
        sys.stdout.buffer.write(data)
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise UserError(f"--output: cannot write {output}: {exc.strerror or exc}") from None
    err_console.print(f"Wrote {output}", markup=False)
    if open_:
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

        return mjml_source(
            planned.digest, rt.site, recipient_for(planned, rt.site, rt.secret)
        ).encode("utf-8")
    return email_bytes(build_email(message, rt.settings.sender))
