"""A digest as plain data: what ranking produces and rendering consumes.

A `Digest` holds no personal values: two subscribers whose digests compare equal
on `rendering_key()` get byte-identical emails apart from the personal tokens
(greeting, unsubscribe and preferences links) filled in by substitution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from digest.papers import Paper

TRENDING_SLUG = "trending"


@dataclass
class Entry:
    paper: Paper
    # Why it is here, e.g. "cs.CV · matched: diffusion".
    reason: str = ""


@dataclass
class Section:
    slug: str  # a topic slug, "trending", or "interests" for custom keywords/authors
    title: str
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Digest:
    period: str  # "2026-11-22" for daily editions, "2026-W47" for weekly ones
    edition_date: date  # the local date the edition is for
    frequency: str  # "daily" | "weekly"
    sections: list[Section] = field(default_factory=list)
    format: str = "html"  # "html" (multipart with both parts) | "text" (text only)

    @property
    def paper_count(self) -> int:
        return sum(len(s.entries) for s in self.sections)

    @property
    def papers(self) -> list[Paper]:
        return [e.paper for s in self.sections for e in s.entries]

    def rendering_key(self) -> tuple:
        """Equal keys render identically (DESIGN.md "Grouping"). Made on
        first use and kept with the digest (a run's delivery and caches ask
        for it many times, and the planner shares one digest among many
        readers): a digest must not change once it has been used."""
        key = self.__dict__.get("_rendering_key")
        if key is None:
            sections = tuple(
                (s.title, tuple((e.paper.key, e.reason) for e in s.entries)) for s in self.sections
            )
            key = self.__dict__["_rendering_key"] = (self.period, self.format, sections)
        return key


@dataclass
class Recipient:
    """The personal values of one email."""

    subscriber_id: int
    email: str
    unsubscribe_url: str
    preferences_url: str
    name: str = ""
    view_url: str = ""  # the edition on the web; empty: the preferences page stands in


@dataclass(frozen=True)
class Template:
    """The content shared by every message of one compiled digest, personal
    tokens still in: a mailer that substitutes server-side (SendGrid) sends it
    once per group with each recipient's `Message.substitutions`. Equal `key`s
    mean equal subject, text and html. `html_json`, when known, is the html
    as a JSON string holds it between its quotes (`json.dumps(html)[1:-1]`)."""

    key: str
    subject: str
    text: str
    html: str | None = None
    html_json: str | None = field(default=None, repr=False, compare=False)


@dataclass
class Message:
    """One rendered email, ready for a mailer. `html` is None for text-only mail.
    `headers` holds the extra headers (List-Id, List-Unsubscribe, ...); the mailer
    adds From/To/Subject/Date/Message-ID. `category` names the kind of mail
    (digest, confirmation, welcome). `text`/`html` are filled in; when the
    message came from a shared digest, `template` holds that content with the
    tokens and `substitutions` maps each token to this recipient's value."""

    to: str
    subject: str
    text: str
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    subscriber_id: int | None = None
    edition_id: int | None = None
    period: str | None = None  # the edition's period, for file names and logs
    kind: str = "digest"  # digest | confirmation | welcome (the provider's category)
    template: Template | None = None
    substitutions: dict[str, str] = field(default_factory=dict)
