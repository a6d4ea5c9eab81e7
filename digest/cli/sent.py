"""digest sent EMAIL: what one person was sent, and when."""

from __future__ import annotations

from typing import Any

import typer

from digest.cli.common import UserError, app, console, runtime
from digest.cli.output import print_json, print_table


@app.command(short_help="What was sent to one subscriber, and when.")
def sent(
    email: str = typer.Argument(..., metavar="EMAIL", help="The subscriber's address."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List every edition of one subscriber: its period, state, when it was
    sent (or claimed), how many papers, and each paper's id and title.

    Example: digest sent ada@example.org --json
    """
    from digest.cli.lookup import find_subscriber

    rt = runtime()
    with rt.engine.begin() as conn:
        subscriber, address = find_subscriber(conn, email)
        if subscriber is None:
            raise UserError(f"no subscriber {address}")
        editions = _editions(conn, subscriber.id)
    if as_json:
        print_json({"subscriber_id": subscriber.id, "email": address, "editions": editions})
        return
    console.print(
        f"{address} (#{subscriber.id}, {subscriber.status}): {len(editions)} editions",
        markup=False,
    )
    rows = []
    for e in editions:
        head = (e["period"], e["status"], e["sent_at"] or e["claimed_at"], e["paper_count"])
        if not e["papers"]:
            rows.append((*head, "", e["error"] or ""))
        rows.extend((*head, p["id"], p["title"]) for p in e["papers"])
    if rows:
        columns = ("period", "state", "when", "papers", "paper", "title")
        print_table(columns, rows, whole=(0, 1, 2, 3, 4))


def _editions(conn, subscriber_id: int) -> list[dict[str, Any]]:
    from digest.store.editions import editions_of
    from digest.store.papers import get_papers

    found = editions_of(conn, subscriber_id)
    keys = [k for e in found for s in (e["sections"] or []) for k, _ in s["entries"]]
    papers = get_papers(conn, keys)
    result = []
    for e in found:
        shown = [
            {
                "id": key,
                "title": papers[key].title if key in papers else "(no longer stored)",
                "section": section["title"],
                "reason": reason,
            }
            for section in (e["sections"] or [])
            for key, reason in section["entries"]
        ]
        result.append(
            {
                "period": e["period"],
                "status": e["status"],
                "claimed_at": e["claimed_at"],
                "sent_at": e["sent_at"],
                "paper_count": e["paper_count"],
                "error": e["error"],
                "papers": shown,
            }
        )
    return result
