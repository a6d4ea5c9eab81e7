"""digest topics list."""

from __future__ import annotations

import typer

from digest.cli.common import DigestGroup, app
from digest.cli.output import print_json, print_table

topics_app = typer.Typer(help="The built-in topic catalog.", no_args_is_help=True, cls=DigestGroup)
app.add_typer(topics_app, name="topics")


@topics_app.command("list")
def list_topics(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the topics subscribers can choose (slugs in full; piped: tab-separated).

    Example: digest topics list --json
    """
    from digest.topics import load_catalog

    catalog = load_catalog()
    if as_json:
        print_json(
            [
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
        )
        return
    print_table(
        ("slug", "name", "categories", "description"),
        [(t.slug, t.name, ", ".join(t.categories), t.description) for t in catalog.values()],
    )
