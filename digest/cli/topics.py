"""digest topics list."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from digest.cli.common import app, console
from digest.topics import load_catalog

topics_app = typer.Typer(help="The built-in topic catalog.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")


@topics_app.command("list")
def list_topics(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the topics subscribers can choose.

    Example: digest topics list --json
    """
    catalog = load_catalog()
    if as_json:
        data = [
            {
                "slug": t.slug,
                "name": t.name,
                "description": t.description,
                "categories": list(t.categories),
                "related_categories": list(t.related_categories),
                "keywords": list(t.keywords),
                "related": list(t.related),
            }
            for t in catalog.values()
        ]
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table()
    for column in ("slug", "name", "categories", "description"):
        table.add_column(column)
    for t in catalog.values():
        table.add_row(t.slug, t.name, ", ".join(t.categories), t.description)
    console.print(table)
