"""digest subscribers add | set | list | remove | import | export."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Annotated

import typer

from digest.cli.common import (
    DigestGroup,
    UserError,
    app,
    console,
    err_console,
    runtime,
    utcnow,
)
from digest.cli.output import print_json, print_table
from digest.cli.subscriber_options import (
    Authors,
    Categories,
    CrossLists,
    Email,
    Format,
    Frequency,
    Hour,
    Keywords,
    MaxPapers,
    MinUpvotes,
    Mute,
    Timezone,
    Topics,
    Weekday,
    preference_options,
)
from digest.preferences import WEEKDAYS
from digest.topics import load_catalog

# The store, address validation and CSV modules are imported inside the
# commands: `digest --help` must not pay for SQLAlchemy or email_validator.

subscribers_app = typer.Typer(help="Manage subscribers.", no_args_is_help=True, cls=DigestGroup)
app.add_typer(subscribers_app, name="subscribers")

SUPPRESSED = (
    "this address unsubscribed or bounced before; it can come back only through a new "
    "double opt-in (not with --confirmed)"
)


# The preference options shared by `add` and `set` (and named like the CSV columns).
@subscribers_app.command("add")
def add(
    email: Email,
    topic: Topics = None,
    keywords: Keywords = None,
    categories: Categories = None,
    authors: Authors = None,
    mute: Mute = None,
    frequency: Frequency = None,
    weekday: Weekday = None,
    timezone: Timezone = None,
    hour: Hour = None,
    max_papers: MaxPapers = None,
    fmt: Format = None,
    cross_lists: CrossLists = None,
    min_upvotes: MinUpvotes = None,
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="Active at once (skip double opt-in).")
    ] = False,
) -> None:
    """Add a subscriber (pending until confirmed, unless --confirmed).

    Example: digest subscribers add ada@example.org --topic nlp:5:10 --topic robotics
    --timezone Europe/Berlin --hour 7 --confirmed
    """
    options = preference_options(locals())  # first: locals() must hold only the parameters
    from digest.preferences import Preferences
    from digest.store.subscribers import SubscriberExists, add_subscriber
    from digest.subscriber_input import apply_options, check_has_interests, normalize_email

    address = normalize_email(email)
    prefs = apply_options(Preferences(), options, load_catalog())
    check_has_interests(prefs)
    rt = runtime()
    try:
        with rt.engine.begin() as conn:
            if confirmed:
                _check_may_activate(conn, address, None, "--confirmed")
            sid = add_subscriber(
                conn, address, prefs, status="active" if confirmed else "pending", now=utcnow()
            )
    except SubscriberExists:
        raise UserError(f"{address} is already subscribed; use `digest subscribers set`") from None
    if confirmed:
        console.print(f"Added subscriber {sid}: {address}, active.", markup=False)
        return
    sent = _send_confirmation(rt, sid)
    note = "confirmation email sent" if sent else "no confirmation email sent (see the log)"
    console.print(f"Added subscriber {sid}: {address}, pending; {note}.", markup=False)


def _send_confirmation(rt, subscriber_id: int) -> bool:
    """The web sign-up's confirmation email, within the same throttle."""
    from subscribers.subscription import Mail, request_confirmation

    mail = Mail(rt.mailer, rt.site, rt.secret)
    return request_confirmation(rt.engine, mail, subscriber_id, now=utcnow())


@subscribers_app.command("set")
def set_(
    email: Email,
    topic: Topics = None,
    keywords: Keywords = None,
    categories: Categories = None,
    authors: Authors = None,
    mute: Mute = None,
    frequency: Frequency = None,
    weekday: Weekday = None,
    timezone: Timezone = None,
    hour: Hour = None,
    max_papers: MaxPapers = None,
    fmt: Format = None,
    cross_lists: CrossLists = None,
    min_upvotes: MinUpvotes = None,
    confirmed: Annotated[
        bool, typer.Option("--confirmed", help="Mark the subscriber active.")
    ] = False,
) -> None:
    """Change a subscriber's preferences; options not given stay as they are
    (\"\" clears a list such as --keywords).

    Example: digest subscribers set ada@example.org --frequency weekly --weekday fri
    """
    options = preference_options(locals())  # first: locals() must hold only the parameters
    from digest.store.subscribers import get_subscriber, update_subscriber
    from digest.subscriber_input import apply_options, check_has_interests, normalize_email

    address = normalize_email(email)
    rt = runtime()
    with rt.engine.begin() as conn:
        sub = get_subscriber(conn, address)
        if sub is None:
            raise UserError(f"no subscriber {address}")
        prefs = apply_options(sub.prefs, options, load_catalog())
        if confirmed or sub.status in ("active", "pending"):
            check_has_interests(prefs)
        if confirmed and sub.status != "active":
            _check_may_activate(conn, address, sub, "--confirmed")
        update_subscriber(conn, sub.id, prefs, status="active" if confirmed else None, now=utcnow())
    console.print(f"Updated subscriber {sub.id}: {address}.", markup=False)


@subscribers_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List subscribers with their status (pending, active, unsubscribed,
    suppressed); addresses in full, piped: tab-separated.

    Example: digest subscribers list --json
    """
    from digest.store.subscribers import list_subscribers

    rt = runtime()
    with rt.engine.begin() as conn:
        subs = list_subscribers(conn)
    if as_json:
        print_json([_as_json(s) for s in subs])
        return
    rows = []
    for s in subs:
        p = s.prefs
        when = f"{p.frequency} {p.hour:02d}:00 {p.timezone}"
        if p.frequency == "weekly":
            when = f"weekly {WEEKDAYS[p.weekday]} {p.hour:02d}:00 {p.timezone}"
        rows.append((s.id, s.email, s.status, [t.spec() for t in p.topics], when, p.format))
    print_table(("id", "email", "status", "topics", "schedule", "format"), rows, whole=(0, 1, 2))


def _as_json(s) -> dict:
    return {
        "id": s.id,
        "email": s.email,
        "status": s.status,
        "created_at": s.created_at.isoformat(),
        "confirmed_at": s.confirmed_at.isoformat() if s.confirmed_at else None,
        **s.prefs.as_dict(),
    }


@subscribers_app.command("remove")
def remove(
    email: str = typer.Argument(..., metavar="EMAIL", help="The address to erase."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Erase a subscriber and their sent log; only a hashed suppression entry is
    kept. Asks first (--yes skips the question, and is required when stdin is
    not a terminal). An address that is not subscribed changes nothing.

    Example: digest subscribers remove ada@example.org --yes
    """
    from digest.store.subscribers import get_subscriber, remove_subscriber
    from digest.subscriber_input import normalize_email

    address = normalize_email(email)
    rt = runtime()
    with rt.engine.begin() as conn:
        sub = get_subscriber(conn, address)
    if sub is None:
        raise UserError(f"no subscriber {address}; nothing changed")
    if not yes:
        if not sys.stdin.isatty():
            raise UserError(f"not removing {address} without confirmation: pass --yes")
        question = f"Erase {address} ({sub.status}) and what was sent to them?"
        if not typer.confirm(question, default=False):
            console.print("Nothing removed.", markup=False)
            raise typer.Exit(1)
    with rt.engine.begin() as conn:
        removed = remove_subscriber(conn, address, now=utcnow())
    if not removed:
        raise UserError(f"no subscriber {address}; nothing changed")
    console.print(f"Removed {address}; a hashed suppression entry remains.", markup=False)


@subscribers_app.command("import")
def import_(
    file: Path = typer.Argument(
        ..., metavar="FILE.csv", help="CSV file with a header row; `email` required."
    ),
) -> None:
    """Import subscribers from CSV (columns named like the options). Existing
    addresses are updated; bad rows are reported with their line number.
    Spreadsheet files are fine: `,`, `;` or tab delimiters, a byte-order mark,
    and Windows-1252 or Latin-1 text (the report says which encoding was assumed).
    Re-importing the same file changes nothing and says so.

    Example: digest subscribers import people.csv
    """
    from digest.store.subscribers import SubscriberExists
    from digest.subscriber_csv import decode_csv, read_csv
    from digest.subscriber_input import InputError

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {file}: {exc.strerror or exc}") from None
    text, encoding = decode_csv(data)
    rows, errors = read_csv(io.StringIO(text, newline=""), load_catalog())
    if encoding not in ("UTF-8", "UTF-16"):
        console.print(f"{file} is not UTF-8: read it as {encoding}.", markup=False)
    rt = runtime()
    done = {"added": 0, "updated": 0, "unchanged": 0}
    catalog = load_catalog()
    with rt.engine.begin() as conn:
        for row in rows:
            try:
                done[_import_row(conn, row, catalog, utcnow())] += 1
            except InputError as exc:
                errors.append((row.line, str(exc)))
            except SubscriberExists:  # added by someone else while this import ran
                errors.append((row.line, "subscribed meanwhile; import again to update"))
    for line, reason in sorted(errors):
        err_console.print(f"{file}:{line}: {reason}", markup=False)
    console.print(
        f"Imported {done['added']} new, updated {done['updated']}, "
        f"unchanged {done['unchanged']}, rejected {len(errors)}.",
        markup=False,
    )
    if errors:
        raise typer.Exit(1)


def _import_row(conn, row, catalog, now) -> str:
    """Add or update one imported subscriber; "added", "updated" or "unchanged"
    (nothing written). An existing subscriber keeps every setting the file has
    no column for."""
    from digest.store.subscribers import add_subscriber, get_subscriber, update_subscriber
    from digest.subscriber_input import apply_options, check_has_interests

    existing = get_subscriber(conn, row.email)
    if row.confirmed:
        _check_may_activate(conn, row.email, existing, "confirmed=true")
    if existing is None:
        check_has_interests(row.prefs)
        status = "active" if row.confirmed else "pending"
        add_subscriber(conn, row.email, row.prefs, status=status, now=now)
        return "added"
    prefs = apply_options(existing.prefs, row.options, catalog)
    if row.confirmed or existing.status in ("active", "pending"):
        check_has_interests(prefs)
    status = "active" if row.confirmed else None
    if prefs == existing.prefs and status in (None, existing.status):
        return "unchanged"
    update_subscriber(conn, existing.id, prefs, status=status, now=now)
    return "updated"


def _check_may_activate(conn, address: str, existing, option: str) -> None:
    """People who unsubscribed or bounced come back only through double opt-in."""
    from digest.store.subscribers import is_suppressed
    from digest.subscriber_input import InputError

    left = existing is not None and existing.status in ("unsubscribed", "suppressed")
    if left or is_suppressed(conn, address):
        raise InputError(SUPPRESSED.replace("--confirmed", option))


@subscribers_app.command("export")
def export(
    output: Path = typer.Option(
        None, "--output", "-o", metavar="FILE", help="File to write (default: stdout)."
    ),
) -> None:
    """Export subscribers as CSV with the columns `import` reads.

    Example: digest subscribers export -o people.csv
    """
    from digest.store.subscribers import list_subscribers
    from digest.subscriber_csv import write_csv

    rt = runtime()
    with rt.engine.begin() as conn:
        subs = list_subscribers(conn)
    # People who left are not exported: an import must never bring them back.
    rows = [
        (s.email, s.prefs, s.status == "active") for s in subs if s.status in ("active", "pending")
    ]
    if output is None:
        write_csv(sys.stdout, rows)
        return
    try:
        with open(output, "w", newline="", encoding="utf-8") as fh:
            write_csv(fh, rows)
    except OSError as exc:
        raise UserError(f"--output: cannot write {output}: {exc.strerror or exc}") from None
    console.print(f"Exported {len(rows)} subscribers to {output}.", markup=False)
