"""The topic catalog: built-in topics as data (`catalog.toml`) and a subscriber's
custom interests as one more, subscriber-specific topic.

A `Topic` only describes what to look for; `digest.ranking` decides which papers
are relevant to it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from digest.preferences import Preferences

INTERESTS_SLUG = "interests"
INTERESTS_NAME = "Your interests"

# A catalog topic is relevant from one distinctive keyword used a few times, or
# two keywords; custom interests were typed by the subscriber, so a single
# mention of one of them is enough.
DEFAULT_MIN_RELEVANCE = 0.75
CUSTOM_MIN_RELEVANCE = 0.15

# Words every field of machine learning uses. A catalog term that is one of
# these alone (`transformer`, `generation`, `text`) never makes a paper relevant
# to a topic and is never named as the reason: it only helps order papers that
# distinctive terms or categories already made relevant. Phrases built from
# them ("image generation", "language model") are distinctive and count.
_GENERIC = """
    model models modeling method methods approach approaches framework learning learn
    data network networks neural deep training train task tasks performance result
    results system systems algorithm algorithms transformer transformers attention
    generation generate generated generative text token tokens benchmark benchmarks
    evaluation prediction predictions representation representations feature features
    architecture inference optimization large scale efficient efficiency novel samples
"""
GENERIC_WORDS = frozenset(_GENERIC.split())

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_CATEGORY = re.compile(r"^[a-z\-]+(?:\.[A-Za-z\-]+)?$")


class UnknownTopicError(ValueError):
    """A slug that is not in the catalog; the message lists the valid ones."""


@dataclass(frozen=True)
class Topic:
    """What one topic looks for.

    `categories` are home categories: a paper whose primary category is one of
    them is relevant on that alone, and a paper listed in one of them only as a
    secondary category is a cross-list. `related_categories` only add evidence.
    `keywords` are distinctive terms and phrases, `related` weaker vocabulary of
    the field. `authors` (custom interests only) make a paper relevant by itself.
    """

    slug: str
    name: str
    description: str = ""
    categories: tuple[str, ...] = ()
    related_categories: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    min_relevance: float = DEFAULT_MIN_RELEVANCE

    @property
    def all_categories(self) -> frozenset[str]:
        return frozenset(self.categories) | frozenset(self.related_categories)


def _strings(slug: str, table: dict, field_name: str) -> tuple[str, ...]:
    value = table.get(field_name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(
            f"catalog topic {slug!r}: {field_name} must be a list of non-empty strings"
        )
    return tuple(dict.fromkeys(v.strip() for v in value))  # drop duplicates, keep order


def parse_catalog(text: str) -> dict[str, Topic]:
    """Topics from catalog TOML text, in file order; ValueError names what is wrong."""
    data = tomllib.loads(text)
    topics: dict[str, Topic] = {}
    for slug, table in data.get("topics", {}).items():
        if not _SLUG.match(slug) or slug == INTERESTS_SLUG:
            raise ValueError(f"catalog topic {slug!r}: bad slug")
        name = table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"catalog topic {slug!r}: name is required")
        categories = _strings(slug, table, "categories")
        related_categories = _strings(slug, table, "related_categories")
        for category in categories + related_categories:
            if not _CATEGORY.match(category):
                raise ValueError(f"catalog topic {slug!r}: bad arXiv category {category!r}")
        keywords = _strings(slug, table, "keywords")
        if not keywords:
            raise ValueError(f"catalog topic {slug!r}: keywords are required")
        topics[slug] = Topic(
            slug=slug,
            name=name.strip(),
            description=str(table.get("description", "")).strip(),
            categories=categories,
            related_categories=related_categories,
            keywords=keywords,
            related=_strings(slug, table, "related"),
        )
    return topics


@cache
def load_catalog() -> dict[str, Topic]:
    """The built-in topics by slug, in catalog order. Read once per process;
    callers must not mutate the returned dict."""
    text = resources.files("digest").joinpath("catalog.toml").read_text(encoding="utf-8")
    return parse_catalog(text)


def get_topic(slug: str) -> Topic:
    """The catalog topic `slug`; UnknownTopicError (a ValueError) listing the
    valid slugs otherwise."""
    catalog = load_catalog()
    try:
        return catalog[slug]
    except KeyError:
        valid = ", ".join(sorted(catalog))
        raise UnknownTopicError(f"unknown topic {slug!r}; valid topics: {valid}") from None


def custom_topic(prefs: Preferences) -> Topic | None:
    """The subscriber's own keywords, categories and authors as the "Your
    interests" pseudo-topic (slug "interests"), or None when they set none.
    Categories are home categories: primary there is enough, a cross-list counts
    unless the subscriber turned cross-lists off."""
    if not prefs.has_custom_interests:
        return None

    def clean(values: list[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v.strip() for v in values if v and v.strip()))

    return Topic(
        slug=INTERESTS_SLUG,
        name=INTERESTS_NAME,
        description="Papers matching your own keywords, categories and authors.",
        categories=clean(prefs.categories),
        keywords=clean(prefs.keywords),
        authors=clean(prefs.authors),
        min_relevance=CUSTOM_MIN_RELEVANCE,
    )
