"""Page rendering: Jinja2 templates under `templates/web/` (autoescape on) and
the friendly error page. Feed text reaches templates only as data."""

from __future__ import annotations

import functools
from datetime import date, datetime

import jinja2
from starlette.responses import HTMLResponse

from digest.excerpt import excerpt, plural, short_authors
from digest.papers import Paper
from digest.render import templates_dir
from digest.render_view import abstract_url
from digest.text import one_line, safe_image_url

PRODUCT = "Trending Papers"


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir()),
        autoescape=jinja2.select_autoescape(["html", "j2", "xml"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["product"] = PRODUCT
    return env


def render(
    template: str, status: int = 200, headers: dict | None = None, **context
) -> HTMLResponse:
    html = environment().get_template(f"web/{template}.html.j2").render(context)
    return HTMLResponse(html, status_code=status, headers=headers)


def error_page(status: int, title: str, message: str, headers: dict | None = None) -> HTMLResponse:
    """A friendly page for bad links and bad requests; never a traceback."""
    return render("error", status, headers, title=title, message=message)


def paper_card(paper: Paper) -> dict:
    """What a page shows of one paper (plain strings; the template escapes them)."""
    authors = paper.authors or []
    when = paper.trending_at or paper.available_at or paper.published_at
    return {
        "key": paper.key,
        "title": one_line(paper.title, 300) or "(untitled)",
        "url": abstract_url(paper),
        "authors": one_line(short_authors(authors[:8]), 300),
        "author_count": plural(len(authors), "author") if authors else "",
        "summary": one_line(excerpt(paper.ai_summary or paper.abstract), 500),
        "ai_summary": bool(paper.ai_summary),
        "date": when.date().isoformat() if isinstance(when, datetime) else "",
        "upvotes": paper.upvotes,
        "comments": paper.comments or 0,
        "hf_url": paper.hf_url,
        "code_url": paper.code_url,
        # Checked again here: the column may hold what an older build stored.
        "thumbnail": safe_image_url(paper.thumbnail_url),
    }


def day_label(day: date) -> str:
    return day.strftime("%A, %d %B %Y").replace(" 0", " ")
