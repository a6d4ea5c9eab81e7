"""The demo's `outbox/index.html`: every digest of the run, side by side."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import jinja2

from digest.render import templates_dir


def describe(eml: Path) -> dict:
    """To, Subject and both parts of one outbox file; the HTML part is saved
    beside it so the index can frame it."""
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    info = {
        "to": str(message["To"]),
        "subject": str(message["Subject"]),
        "eml": eml.name,
        "html": None,
        "text": text_part.get_content() if text_part else "",
    }
    if html_part is not None:
        html_file = eml.with_suffix(".html")
        html_file.write_text(html_part.get_content(), encoding="utf-8")
        info["html"] = html_file.name
    return info


def write_index(outbox: Path, days: list[tuple[str, list[Path]]]) -> Path:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    described = [(day, [describe(f) for f in files]) for day, files in days]
    page = env.get_template("demo/index.html.j2").render(
        days=described, messages=[m for _, cards in described for m in cards]
    )
    index = outbox / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
