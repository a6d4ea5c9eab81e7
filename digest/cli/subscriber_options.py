"""The preference options shared by `subscribers add` and `subscribers set`
(named like the CSV columns), with what to type and the defaults in their help."""

from __future__ import annotations

from typing import Annotated

import typer

from digest.preferences import DEFAULT_HOUR, DEFAULT_MAX_PAPERS, DEFAULT_TIMEZONE

# Defaults are those of a new subscriber; `set` leaves an option not given as it is.
Email = Annotated[str, typer.Argument(metavar="EMAIL", help="The subscriber's address.")]
Topics = Annotated[
    list[str] | None,
    typer.Option(
        "--topic",
        metavar="SLUG[:MAX[:MIN_UPVOTES]]",
        help="A topic, e.g. nlp:5:10 = at most 5 NLP papers with 10 upvotes or more "
        "(repeatable; see `digest topics list`). `set` replaces the topics.",
    ),
]
Keywords = Annotated[
    str | None,
    typer.Option(metavar='"A; B"', help='Keywords and phrases, e.g. "diffusion; scaling laws".'),
]
Categories = Annotated[
    str | None, typer.Option(metavar='"CAT; CAT"', help='arXiv categories, e.g. "cs.CV; cs.RO".')
]
Authors = Annotated[
    str | None, typer.Option(metavar='"NAME; NAME"', help='Authors, e.g. "A. Name; B. Name".')
]
Mute = Annotated[
    str | None,
    typer.Option(metavar='"A; B"', help='Keywords that exclude a paper; "" clears a list.'),
]
Frequency = Annotated[
    str | None, typer.Option(metavar="daily|weekly", help="How often.  [default: daily]")
]
Weekday = Annotated[
    str | None,
    typer.Option(metavar="mon..sun", help="Weekly subscribers' delivery day.  [default: mon]"),
]
Timezone = Annotated[
    str | None,
    typer.Option(
        metavar="TZ", help=f"IANA timezone, e.g. Europe/Berlin.  [default: {DEFAULT_TIMEZONE}]"
    ),
]
Hour = Annotated[
    int | None,
    typer.Option(metavar="0-23", help=f"Local delivery hour.  [default: {DEFAULT_HOUR}]"),
]
MaxPapers = Annotated[
    int | None,
    typer.Option(
        metavar="N", help=f"At most this many papers per digest.  [default: {DEFAULT_MAX_PAPERS}]"
    ),
]
Format = Annotated[
    str | None, typer.Option("--format", metavar="html|text", help="Email format.  [default: html]")
]
CrossLists = Annotated[
    bool | None,
    typer.Option(
        "--cross-lists/--no-cross-lists", help="Include cross-listed papers.  [default: yes]"
    ),
]
MinUpvotes = Annotated[
    int | None,
    typer.Option(metavar="N", help="Only papers with this many upvotes or more.  [default: 0]"),
]


def preference_options(values: dict) -> dict:
    """The preference options a command was given, keyed as `apply_options` wants."""
    renamed = {"topic": "topics", "fmt": "format"}
    skip = ("email", "confirmed")
    options = {renamed.get(k, k): v for k, v in values.items() if k not in skip}
    options["topics"] = list(options["topics"]) if options["topics"] else None
    return options
