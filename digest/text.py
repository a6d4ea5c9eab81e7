"""Make attacker-controlled feed text inert and bounded before it is stored.

Feed titles, abstracts and author names are untrusted. They are stored as plain
text: control characters (CR/LF included) folded to spaces where a line break
makes no sense, and every field capped, so nothing downstream (headers, MJML,
logs) can be steered by them. HTML escaping happens at render time, not here.
"""

from __future__ import annotations

import html
import re

MAX_TITLE = 500
MAX_ABSTRACT = 5000
MAX_AUTHOR = 200
MAX_AUTHORS = 200
MAX_SUMMARY = 2000
MAX_URL = 2000
MAX_KEYWORD = 100
MAX_KEYWORDS = 50

# Control characters, line/paragraph separators, and lone surrogates (valid in
# JSON as "\ud800", but not encodable: they would crash the database driver).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_SPACES = re.compile(r"\s+")
# A tag starts with a letter, "/", "!" or "?": "n < 10 and m > 5" is maths, not a tag.
_TAGS = re.compile(r"<(?=[A-Za-z/!?])[^<>]{0,500}>")


def one_line(text: str | None, limit: int) -> str:
    """Collapse all whitespace and control characters to single spaces, strip, and
    cap at `limit` characters (cut at a word boundary with an ellipsis)."""
    if not text:
        return ""
    text = _CONTROL.sub(" ", str(text))
    text = _SPACES.sub(" ", text).strip()
    return cap(text, limit)


def cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def strip_html(text: str | None) -> str:
    """Plain text from a feed field that may hold HTML markup (tags dropped,
    entities decoded). A literal `<` that is not a tag survives as text."""
    if not text:
        return ""
    return html.unescape(_TAGS.sub(" ", str(text)))


def safe_url(url: str | None) -> str | None:
    """Keep only http(s) URLs without whitespace or control characters, and not
    over `MAX_URL` (cutting one would make a broken link)."""
    if not url:
        return None
    url = str(url).strip()
    if len(url) > MAX_URL:
        return None
    if not _SAFE_URL.match(url):
        return None
    return url


_SAFE_URL = re.compile(r"^https?://[^\s\"'<>\x00-\x1f\x7f\ud800-\udfff]+$", re.IGNORECASE)


def safe_image_url(url: str | None) -> str | None:
    """`safe_url`, and https only: pages served over https may load only https
    images (their CSP says `img-src 'self' https:`)."""
    url = safe_url(url)
    return url if url and url[:8].lower() == "https://" else None


def author_list(names) -> list[str]:
    out = [one_line(n, MAX_AUTHOR) for n in names]
    return [n for n in out if n][:MAX_AUTHORS]
