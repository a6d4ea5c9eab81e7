"""What the email templates see: a `Digest` turned into plain, inert view data.

Every string taken from a feed passes through `inert()` here, before any template
sees it: one line, capped, and unable to spell a personal token (a title such as
`%%DIGEST_UNSUBSCRIBE_URL%%` must stay text, not become a link after
substitution). HTML escaping is left to Jinja's autoescape; the text template
prints these strings as they are. Templates receive data only, never feed text
as template source.
"""

from __future__ import annotations

import functools
import json
import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from urllib.parse import urlsplit

from digest.digests import Entry, Section
from digest.excerpt import excerpt, plural, short_authors
from digest.papers import Paper, arxiv_abs_url, arxiv_pdf_url
from digest.text import MAX_TITLE, one_line, safe_url

# Personal values are unknown when a digest is compiled; the templates emit these
# tokens and `personalize` swaps them for each recipient's values. The HTML part
# has its own tokens because its values are HTML-escaped (a mailer that
# substitutes server-side, like SendGrid, gets one value per token).
TOKEN_PREFIX = "%%DIGEST_"
PERSONAL_FIELDS = ("greeting", "email", "unsubscribe_url", "preferences_url", "view_url")
TOKEN_PATTERN = re.compile(r"(%%DIGEST_[A-Z_]+%%)")
# An invisible word joiner between two percent signs: "%%" can then never occur
# in feed text, so feed text can never form (part of) a token.
_WORD_JOINER = "\u2060"

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_WEEK_PERIOD = re.compile(r"^(\d{4})-W(\d{2})$")

# Colours (light and dark) chosen for >= 4.5:1 contrast of text, muted text and
# links against both the card and the page background; tests check the ratios.
PALETTE = {
    "light": {
        "bg": "#f3f4f6",
        "card": "#ffffff",
        "text": "#1f2328",
        "muted": "#57606a",
        "link": "#0b57d0",
        "rule": "#d8dee4",
    },
    "dark": {
        "bg": "#0d1117",
        "card": "#161b22",
        "text": "#e6edf3",
        "muted": "#a0aab5",
        "link": "#7cb7ff",
        "rule": "#30363d",
    },
}


def token(name: str, part: str) -> str:
    """The token for personal field `name` in `part` ("text" or "html")."""
    suffix = "_HTML" if part == "html" else ""
    return f"{TOKEN_PREFIX}{name.upper()}{suffix}%%"


def fill_tokens(parts: list[str], values: Mapping[str, str]) -> str:
    """`parts` (text cut at its tokens by `TOKEN_PATTERN.split`: tokens at
    the odd indexes) joined with each token replaced by its value; KeyError
    for a token without one. One pass, so a value that happens to look like
    a token is never substituted again."""
    out = list(parts)
    out[1::2] = [values[t] for t in parts[1::2]]
    return "".join(out)


def json_escaped(text: str) -> str:
    """`text` as a JSON string holds it between its quotes (ASCII, as
    `json.dumps` writes it by default). JSON escapes each character on its
    own: the escaped pieces of a text, joined, are the escaped text."""
    return json.dumps(text)[1:-1]


def tokens(part: str) -> dict[str, str]:
    return {name: token(name, part) for name in PERSONAL_FIELDS}


def inert(text: str | None, limit: int) -> str:
    """Feed text made safe for any template: one line, capped, token-proof."""
    return one_line(text, limit).replace("%%", "%" + _WORD_JOINER + "%")


def inert_url(url: str | None) -> str | None:
    """An http(s) URL, or None; a URL that could spell a token is dropped."""
    url = safe_url(url)
    return None if url is None or "%%" in url else url


@dataclass(frozen=True)
class SiteInfo:
    """The operator's values shown in every email. `list_id` and `reason_text`
    are derived from `base_url` unless given."""

    base_url: str
    sender: str
    product_name: str = "Trending Papers"
    postal_address: str | None = None
    list_id: str = ""
    reason_text: str = ""

    def __post_init__(self) -> None:
        base = self.base_url.rstrip("/")
        object.__setattr__(self, "base_url", base)
        if not self.list_id:
            object.__setattr__(self, "list_id", make_list_id(self.product_name, base))
        if not self.reason_text:
            reason = (
                f"You receive this because you subscribed to {self.product_name} Digest at {base}."
            )
            object.__setattr__(self, "reason_text", reason)


def make_list_id(product_name: str, base_url: str) -> str:
    """RFC 2919 List-Id: "Trending Papers Digest <digest.example.org>"."""
    host = (urlsplit(base_url).hostname or "localhost").lower()
    label = re.sub(r"[^A-Za-z0-9 ]+", " ", product_name).strip() or "Digest"
    list_host = host if host.startswith("digest.") else f"digest.{host}"
    return f"{label} Digest <{list_host}>"


@dataclass
class PaperView:
    title: str
    url: str
    authors: str
    reason: str
    stats: str
    summary: str
    links: list[tuple[str, str]] = field(default_factory=list)
    number: int = 0  # 1-based position in the whole digest


def paper_view(entry: Entry, site: SiteInfo) -> PaperView:
    paper = entry.paper
    reason = inert(entry.reason, 200) or inert(paper.primary_category, 50)
    summary = paper.ai_summary if paper.ai_summary else paper.abstract
    return PaperView(
        title=inert(paper.title, min(MAX_TITLE, 300)) or "(untitled)",
        url=abstract_url(paper) or site.base_url + "/",
        authors=inert(short_authors(paper.authors[:8]), 300),
        reason=reason,
        stats=_stats(paper),
        summary=inert(excerpt(summary), 500),
        links=_links(paper),
    )


def abstract_url(paper: Paper) -> str | None:
    """The paper's abstract page: its own, else derived from its arXiv id, DOI
    or link key."""
    url = inert_url(paper.abs_url)
    if url:
        return url
    if paper.arxiv_id:
        return inert_url(arxiv_abs_url(paper.arxiv_id))
    if paper.doi:
        return inert_url(f"https://doi.org/{paper.doi}")
    if paper.key.startswith("url:"):
        return inert_url(paper.key[4:])
    return None


def _links(paper: Paper) -> list[tuple[str, str]]:
    pdf = paper.pdf_url or (arxiv_pdf_url(paper.arxiv_id) if paper.arxiv_id else None)
    candidates = [
        ("PDF", pdf),
        ("Hugging Face", paper.hf_url),
        ("Code", paper.code_url),
        ("Project page", paper.project_url),
    ]
    out = [(label, inert_url(url)) for label, url in candidates]
    return [(label, url) for label, url in out if url]


def _stats(paper: Paper) -> str:
    parts = []
    if paper.upvotes is not None:
        parts.append("▲ " + plural(paper.upvotes, "upvote"))
    if paper.comments:
        parts.append(plural(paper.comments, "comment"))
    if paper.github_stars:
        parts.append("★ " + plural(paper.github_stars, "star") + " on GitHub")
    return " · ".join(parts)


def section_views(sections: list[Section], site: SiteInfo) -> list[dict]:
    """Sections as {"title", "papers": [PaperView]}, papers numbered from 1."""
    out, number = [], 0
    for section in sections:
        papers = []
        for entry in section.entries:
            number += 1
            papers.append(replace(paper_view(entry, site), number=number))
        out.append(section_view(section, papers))
    return out


def section_view(section: Section, papers: list[PaperView]) -> dict:
    """A section as the templates read it: its title, the title's underline
    in the text part, and its papers' views."""
    title = inert(section.title, 120)
    return {"title": title, "rule": "=" * min(len(title), 72), "papers": papers}


def take(sections: list[dict], count: int) -> list[dict]:
    """The first `count` papers in section order; emptied sections disappear."""
    out = []
    for section in sections:
        if count <= 0:
            break
        papers = section["papers"][:count]
        count -= len(papers)
        if papers:
            out.append({**section, "papers": papers})
    return out


def edition_labels(period: str, edition_date: date, frequency: str) -> tuple[str, str]:
    """(long, short) labels: ("Sunday, 22 November 2026", "Sun 22 Nov") for daily
    editions, ("Week 47, 2026", "Week 47") for weekly ones. English whatever the
    process locale."""
    if frequency == "weekly":
        match = _WEEK_PERIOD.match(period)
        year, week = (
            (int(match.group(1)), int(match.group(2))) if match else edition_date.isocalendar()[:2]
        )
        return f"Week {week}, {year}", f"Week {week}"
    day, month = _DAYS[edition_date.weekday()], _MONTHS[edition_date.month - 1]
    long = f"{day}, {edition_date.day} {month} {edition_date.year}"
    return long, f"{day[:3]} {edition_date.day} {month[:3]}"


def base_context(
    site: SiteInfo, period: str, edition_date: date, frequency: str, part: str
) -> dict:
    """What every template (digest or empty note, either part) needs: a
    dict of its own (the values are shared)."""
    return dict(_base_context(site, period, edition_date, frequency, part))


# A run's digests share a handful of these (one per period, frequency and
# part), and each digest asks for several while its size is found.
@functools.lru_cache(maxsize=256)
def _base_context(
    site: SiteInfo, period: str, edition_date: date, frequency: str, part: str
) -> dict:
    long_label, short_label = edition_labels(period, edition_date, frequency)
    return {
        "site": site,
        "postal_lines": [
            inert(line, 200) for line in (site.postal_address or "").splitlines() if line.strip()
        ],
        "home_url": site.base_url + "/",
        "edition_label": long_label,
        "edition_short": short_label,
        "frequency": frequency,
        "period_word": "this week" if frequency == "weekly" else "today",
        "tok": tokens(part),
        "palette": PALETTE,
    }


def wrap(text: str, width: int = 72, indent: str = "   ", first_indent: str | None = None) -> str:
    """The templates' `wrap` filter: plain text filled to `width`."""
    # URLs and long words stay whole so they remain clickable.
    return textwrap.fill(
        str(text),
        width=width,
        initial_indent=indent if first_indent is None else first_indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
