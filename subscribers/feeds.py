"""RSS 2.0 for a topic archive. Built with ElementTree, which escapes every
text it writes, so feed text can never become markup in the feed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime

from starlette.responses import Response

from digest.excerpt import excerpt, short_authors
from digest.papers import Paper
from digest.render import SiteInfo
from digest.render_view import abstract_url
from digest.text import one_line
from digest.topics import Topic
from digest.web_links import papers_url


def _sub(parent: ET.Element, tag: str, text: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    element.text = text
    return element


def _clean(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (control characters from feeds)."""
    return "".join(c for c in text if c in "\t\n\r" or (ord(c) >= 0x20 and c not in "\ufffe\uffff"))


def topic_rss(
    site: SiteInfo, topic: Topic, papers: list[Paper], when: Callable[[Paper], datetime]
) -> bytes:
    page = f"{site.base_url}/topics/{topic.slug}"
    rss = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(rss, "channel")
    _sub(channel, "title", f"{site.product_name}: {topic.name}")
    _sub(channel, "link", page)
    _sub(channel, "description", _clean(topic.description or f"New papers in {topic.name}"))
    _sub(channel, "language", "en")
    _sub(channel, "lastBuildDate", format_datetime(datetime.now(UTC)))
    for paper in papers:
        item = ET.SubElement(channel, "item")
        link = abstract_url(paper) or page
        _sub(item, "title", _clean(one_line(paper.title, 300) or "(untitled)"))
        _sub(item, "link", link)
        _sub(item, "guid", papers_url(site.base_url, [paper.key]), isPermaLink="false")
        _sub(item, "pubDate", format_datetime(when(paper).astimezone(UTC)))
        authors = one_line(short_authors(paper.authors[:8]), 300)
        summary = one_line(excerpt(paper.ai_summary or paper.abstract), 600)
        _sub(item, "description", _clean(f"{authors}. {summary}" if authors else summary))
    body = ET.tostring(rss, encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body).encode("utf-8")


def rss_response(
    site: SiteInfo, topic: Topic, papers: list[Paper], when: Callable[[Paper], datetime]
) -> Response:
    body = topic_rss(site, topic, papers, when)
    headers = {"Cache-Control": "public, max-age=900"}
    return Response(body, media_type="application/rss+xml; charset=utf-8", headers=headers)
