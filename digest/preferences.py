"""A subscriber's choices, as plain data shared by the CLI, the web app, the
store and the ranking."""

from __future__ import annotations

from dataclasses import dataclass, field

FREQUENCIES = ("daily", "weekly")
FORMATS = ("html", "text")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_MAX_PAPERS = 20
DEFAULT_HOUR = 7
DEFAULT_TIMEZONE = "UTC"


@dataclass(frozen=True)
class TopicChoice:
    """A chosen catalog topic; `max_papers`/`min_upvotes` narrow it (None = no limit)."""

    slug: str
    max_papers: int | None = None
    min_upvotes: int | None = None

    def spec(self) -> str:
        """The `SLUG[:MAX[:MIN_UPVOTES]]` form used on the command line and in CSV."""
        parts = [self.slug]
        if self.max_papers is not None or self.min_upvotes is not None:
            parts.append("" if self.max_papers is None else str(self.max_papers))
        if self.min_upvotes is not None:
            parts.append(str(self.min_upvotes))
        return ":".join(parts)


@dataclass
class Preferences:
    topics: list[TopicChoice] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    mute: list[str] = field(default_factory=list)
    frequency: str = "daily"
    weekday: int = 0  # 0 = Monday, used by weekly subscribers
    timezone: str = DEFAULT_TIMEZONE
    hour: int = DEFAULT_HOUR
    max_papers: int = DEFAULT_MAX_PAPERS
    format: str = "html"
    cross_lists: bool = True
    min_upvotes: int = 0

    def as_dict(self) -> dict:
        """As people read and write them: topics as `SLUG[:MAX[:MIN]]`, the
        weekday by name (`subscribers list --json`, the web app's export)."""
        return {
            "topics": [t.spec() for t in self.topics],
            "keywords": self.keywords,
            "categories": self.categories,
            "authors": self.authors,
            "mute": self.mute,
            "frequency": self.frequency,
            "weekday": WEEKDAYS[self.weekday],
            "timezone": self.timezone,
            "hour": self.hour,
            "max_papers": self.max_papers,
            "format": self.format,
            "cross_lists": self.cross_lists,
            "min_upvotes": self.min_upvotes,
        }

    @property
    def has_custom_interests(self) -> bool:
        return bool(self.keywords or self.categories or self.authors)
