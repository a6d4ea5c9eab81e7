"""arXiv announcement feeds from rss.arxiv.org (the 2024 format), RSS 2.0 or Atom.

Each feed carries only the latest announcement: `new` and `cross` items are that
day's papers, `replace` and `replace-cross` are new versions of older ones. The
feed is empty on weekends and holidays, which is a normal, empty result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

from digest.config import SourceConfig
from digest.http import Fetcher
from digest.papers import ANNOUNCE_TYPES, Paper, arxiv_abs_url, arxiv_pdf_url, parse_arxiv_id
from digest.sources.base import (
    EMPTY_LISTING_NOTE,
    FEED_ACCEPT,
    FetchState,
    Skip,
    SourceResult,
    entry_date,
    feed_text,
    get,
    item_label,
    new_state,
    not_modified_result,
    parse_items,
    read_feed,
    tag_terms,
    utc_from_struct,
)
from digest.text import MAX_ABSTRACT, MAX_TITLE, author_list, one_line, strip_html

ATOM = "http://www.w3.org/2005/Atom"
# arXiv announces on US Eastern dates; a feed's date is read in that zone.
EASTERN = ZoneInfo("America/New_York")
# "arXiv:2411.01234v1 Announce Type: new \nAbstract: ..." (whitespace varies).
_PREAMBLE = re.compile(
    r"^\s*arXiv:(?P<id>\S+)\s+Announce\s+Type:\s*(?P<type>[\w\-]+)\s*(?:Abstract:\s*)?",
    re.IGNORECASE,
)
# One dc:creator holds every author: "A, B, C and D" or "A, B, and C".
_COMMA = re.compile(r"\s*,\s*(?:and\s+)?")
_LAST_AND = re.compile(r"\s+and\s+")


@dataclass
class Listing:
    """One parsed announcement feed; `listing_date` is its US Eastern date when
    the feed (or its first item) states one."""

    papers: list[Paper]
    skipped: list[str]
    fetched: int
    listing_date: date | None = None


def parse(data: bytes, source_name: str, now: datetime) -> tuple[list[Paper], list[str], int]:
    """(papers, skipped reasons, items fetched) from feed bytes; raises
    `SourceError` when `data` is not a feed. `now` dates items the feed leaves
    undated."""
    listing = parse_listing(data, source_name, now)
    return listing.papers, listing.skipped, listing.fetched


def parse_listing(data: bytes, source_name: str, now: datetime) -> Listing:
    """`parse` plus the feed's own listing date."""
    feed = read_feed(data, source_name)
    raw = raw_descriptions(data)
    # The announcement's date: the channel's pubDate, else the first item's,
    # and only then the build time (which may fall on the evening before).
    channel_date = utc_from_struct(feed.channel.get("published_parsed"))
    if channel_date is None and feed.entries:
        channel_date = entry_date(feed.entries[0], "published", "updated")
    if channel_date is None:
        channel_date = utc_from_struct(feed.channel.get("updated_parsed"))

    def one(entry: Any) -> Paper:
        return _paper(entry, source_name, channel_date or now, raw.get(entry.get("id") or ""))

    def label(index: int, entry: Any) -> str:
        return item_label(index, entry.get("id"), entry.get("title"))

    papers, skipped = parse_items(feed.entries, one, label)
    return Listing(
        papers=papers,
        skipped=feed.problems + skipped,
        fetched=feed.delivered,
        listing_date=channel_date.astimezone(EASTERN).date() if channel_date else None,
    )


def raw_descriptions(data: bytes) -> dict[str, str]:
    """Item guid -> its description exactly as the XML carries it.

    arXiv descriptions are plain text, but feedparser reads an RSS description
    as HTML: the escaped maths `n&lt;m and m&gt;k` would become a tag `<m ...>`
    and be lost. Reading the text with the standard XML parser (which fetches no
    external entities) keeps it; a document it cannot read (truncated) gives
    nothing, and feedparser's text is used instead."""
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return {}
    found = {}
    for item in root.iter("item"):  # RSS 2.0
        guid, text = item.findtext("guid"), item.findtext("description")
        if guid and text is not None:
            found[guid.strip()] = text
    for entry in root.iter(f"{{{ATOM}}}entry"):  # rss.arxiv.org/atom/...
        ident, text = entry.findtext(f"{{{ATOM}}}id"), entry.findtext(f"{{{ATOM}}}summary")
        if ident and text is not None:
            found[ident.strip()] = text
    return found


def _paper(entry: Any, source: str, fallback: datetime, raw_description: str | None) -> Paper:
    found = parse_arxiv_id(entry.get("id") or "")
    if found is None:
        raise Skip("no arXiv id in its guid")
    base, version = found
    title = feed_text(entry, "title", MAX_TITLE)
    if not title:
        raise Skip("no title")
    if raw_description is not None:
        description = raw_description
    else:
        description = strip_html(entry.get("summary"))
    announce = one_line(entry.get("arxiv_announce_type"), 20).lower()
    preamble = _PREAMBLE.match(description)
    if preamble:
        description = description[preamble.end() :]
        announce = announce or preamble["type"].lower()
        if version is None:
            version = (parse_arxiv_id(preamble["id"]) or (base, None))[1]
    kind = announce if announce in ANNOUNCE_TYPES else None
    when = entry_date(entry, "published", "updated") or fallback
    categories = tag_terms(entry)
    return Paper(
        key=base,
        title=title,
        abstract=one_line(description, MAX_ABSTRACT),
        authors=split_authors(a.get("name") for a in entry.get("authors") or []),
        categories=categories,
        primary_category=categories[0] if categories else None,
        arxiv_id=base,
        version=version,
        # Only a first announcement dates the paper; a replacement is not new.
        published_at=when if kind == "new" and version == 1 else None,
        updated_at=when if kind in ("replace", "replace-cross") else None,
        available_at=when if kind in ("new", "cross") else None,
        abs_url=arxiv_abs_url(base),
        pdf_url=arxiv_pdf_url(base),
        sources=[source],
        announce_type=kind,
    )


def split_authors(creators: Any) -> list[str]:
    """Author names from arXiv's comma-joined creator strings."""
    names: list[str] = []
    for creator in creators:
        if not isinstance(creator, str):
            continue
        parts = _COMMA.split(one_line(creator, 100_000))
        # "and" separates names only in a list ("A, B and C"); alone it is part
        # of one name ("The ATLAS and CMS Collaborations").
        if len(parts) > 1:
            parts[-1:] = _LAST_AND.split(parts[-1])
        names.extend(parts)
    return author_list(names)


def fetch(
    cfg: SourceConfig,
    fetcher: Fetcher,
    state: FetchState,
    listing_date: date | None,
    now: datetime,
    hf_token: str | None = None,
) -> SourceResult:
    """Fetch the feed (conditionally) and parse it. With `listing_date`, a feed
    announcing another date yields no papers and a note: the RSS carries only the
    latest announcement; past dates need an arxiv-api source."""
    response = get(fetcher, cfg.name, cfg.url, state=state, headers={"Accept": FEED_ACCEPT})
    if response.not_modified:
        return not_modified_result(response, state)
    listing = parse_listing(response.content, cfg.name, now)
    notes = [EMPTY_LISTING_NOTE] if listing.fetched == 0 else []
    other_day = listing.listing_date not in (None, listing_date)
    if listing_date and listing.fetched and other_day:
        note = (
            f"the feed announces {listing.listing_date}, not {listing_date}: arXiv RSS "
            "only carries the latest announcement; use an arxiv-api source for past dates"
        )
        # Keep the old validators: this content was not taken, so the next
        # plain fetch must not be answered with 304.
        return SourceResult([], [], 0, state, notes=[note])
    return SourceResult(
        papers=listing.papers,
        skipped=listing.skipped,
        fetched=listing.fetched,
        state=new_state(response, state),
        notes=notes,
    )
