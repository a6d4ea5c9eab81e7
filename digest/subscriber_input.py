"""Parse and validate what people type or import about subscribers.

One set of rules for the command line, the web forms and CSV files: every parser
returns plain values or raises `InputError` with a one-line reason fit to show the
person who typed it. Messages never repeat an email address (they may end up in a
log), and this module knows nothing of the topic catalog: callers pass the known
slugs.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import zoneinfo
from collections.abc import Callable, Collection, Iterable
from functools import cache
from typing import Any

from email_validator import EmailNotValidError, validate_email

from digest.arxiv_categories import canonical_category
from digest.preferences import FORMATS, FREQUENCIES, WEEKDAYS, Preferences, TopicChoice
from digest.text import MAX_KEYWORD, MAX_KEYWORDS, one_line

MAX_PAPERS_LIMIT = 100
# Generous, but an upvote threshold must fit a 32-bit database integer.
MAX_UPVOTES_LIMIT = 1_000_000
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TRUE = ("true", "yes", "y", "1", "on")
_FALSE = ("false", "no", "n", "0", "off")
_DIGITS = re.compile(r"\d{1,9}")
# Zone files that exist on disk but are no place a person lives in.
_NOT_ZONES = {"localtime", "posixrules", "Factory"}

LIST_OPTIONS = ("keywords", "categories", "authors", "mute")
OPTIONS = (
    "topics",
    *LIST_OPTIONS,
    "frequency",
    "weekday",
    "timezone",
    "hour",
    "max_papers",
    "format",
    "cross_lists",
    "min_upvotes",
)
CSV_COLUMNS = ["email", *OPTIONS, "confirmed"]


class InputError(ValueError):
    """Input that cannot be accepted; `str(error)` is the one-line reason."""


# --- single values -------------------------------------------------------------


def normalize_email(text: str) -> str:
    """The address in normalized form: lower-cased (domains ignore case, and so
    do the mailboxes of every provider people use: Ada@ and ada@ are one
    person), IDNA-checked, Unicode NFC; no DNS lookups. A non-ASCII local part
    is refused: mail to it needs SMTPUTF8, which not every server on the way has."""
    try:
        address = str(text).strip()
        valid = validate_email(address, check_deliverability=False, allow_smtputf8=False)
        return valid.normalized.lower()
    except EmailNotValidError as error:
        raise InputError(f"invalid email address: {error}") from None


def parse_topic_spec(spec: str, known_slugs: Collection[str]) -> TopicChoice:
    """`SLUG`, `SLUG:MAX`, `SLUG:MAX:MIN_UPVOTES` or `SLUG::MIN_UPVOTES`; the slug
    (case forgiven) must be one of `known_slugs`, MAX 1–100, MIN_UPVOTES ≥ 0."""
    spec = str(spec).strip()
    parts = [part.strip() for part in spec.split(":")]
    if len(parts) > 3:
        raise InputError(f"topic {spec[:60]!r}: use SLUG[:MAX[:MIN_UPVOTES]]")
    slug = parts[0].lower()
    if slug not in known_slugs:
        raise InputError(f"unknown topic {parts[0][:60]!r}; try {_suggest(slug, known_slugs)}")
    parts += [""] * (3 - len(parts))
    return TopicChoice(
        slug,
        _topic_number(parse_max_papers, parts[1], spec, "MAX"),
        _topic_number(parse_min_upvotes, parts[2], spec, "MIN_UPVOTES"),
    )


def _topic_number(parse: Callable[[str], int], text: str, spec: str, part: str) -> int | None:
    if not text:
        return None
    try:
        return parse(text)
    except InputError as error:
        raise InputError(f"topic {spec[:60]!r}: {part} {error}") from None


def parse_topics(specs: str | Iterable[str], known_slugs: Collection[str]) -> list[TopicChoice]:
    """Topic specs, as a list or one `;`-separated string; each slug at most once."""
    items = _raw_items(specs)
    topics = [parse_topic_spec(item, known_slugs) for item in items]
    slugs = [topic.slug for topic in topics]
    doubled = sorted({slug for slug in slugs if slugs.count(slug) > 1})
    if doubled:
        raise InputError(f"topic given more than once: {', '.join(doubled)}")
    return topics


def split_list(value: str | Iterable[str] | None) -> list[str]:
    """Items of a `;`-separated string (or of a list): stripped, empty ones dropped,
    duplicates dropped ignoring case (first spelling kept), each folded to one line
    and capped at 100 characters; more than 50 items is an error."""
    items: list[str] = []
    seen: set[str] = set()
    for raw in _raw_items(value):
        item = one_line(raw, MAX_KEYWORD)
        if item and item.casefold() not in seen:
            seen.add(item.casefold())
            items.append(item)
    if len(items) > MAX_KEYWORDS:
        raise InputError(f"too many items ({len(items)}); at most {MAX_KEYWORDS}")
    return items


def parse_categories(value: str | Iterable[str] | None) -> list[str]:
    """arXiv categories such as `cs.CV; stat.ML`, each one arXiv has (see
    `digest/arxiv_categories.txt`), spelled as arXiv spells it (`cs.cv` → `cs.CV`)."""
    items = split_list(value)
    known = [canonical_category(item) for item in items]
    bad = [item for item, canonical in zip(items, known, strict=True) if canonical is None]
    if bad:
        shown = ", ".join(repr(item[:40]) for item in bad[:5])
        raise InputError(f"not an arXiv category: {shown} (ids like cs.CV, stat.ML, hep-th)")
    return list(dict.fromkeys(c for c in known if c))


def check_has_interests(prefs: Preferences) -> None:
    """A subscriber with no topics, keywords, categories or authors would never
    receive a paper: refuse rather than keep them silently."""
    if not (prefs.topics or prefs.has_custom_interests):
        raise InputError(
            "nothing to match: give at least one topic, keyword, category or author "
            "(this subscriber would never receive a paper)"
        )


def parse_weekday(text: str | int) -> int:
    """0 (Monday) to 6 from `mon`, `Monday`, `tues`, … (a day name or a prefix of
    at least three letters) or an int 0–6."""
    if isinstance(text, int) and not isinstance(text, bool) and 0 <= text <= 6:
        return text
    word = str(text).strip().lower()
    for number, name in enumerate(_WEEKDAY_NAMES):
        if len(word) >= 3 and name.startswith(word):
            return number
    raise InputError(f"unknown weekday {str(text)[:20]!r}; use {', '.join(WEEKDAYS)}")


def parse_timezone(text: str) -> str:
    """The IANA key for `text` (`Europe/Berlin`; case is forgiven)."""
    key = str(text).strip()
    canonical = _zone_keys().get(key.lower())
    if canonical is None:
        raise InputError(f"unknown timezone {key[:60]!r}; use an IANA name like Europe/Berlin")
    return canonical


def parse_hour(value: str | int) -> int:
    return _parse_int(value, 0, 23)


def parse_max_papers(value: str | int) -> int:
    return _parse_int(value, 1, MAX_PAPERS_LIMIT)


def parse_min_upvotes(value: str | int) -> int:
    return _parse_int(value, 0, MAX_UPVOTES_LIMIT)


def parse_frequency(text: str) -> str:
    return _parse_choice(text, FREQUENCIES)


def parse_format(text: str) -> str:
    return _parse_choice(text, FORMATS)


def parse_bool(value: str | bool | None) -> bool | None:
    """true/false, yes/no, y/n, 1/0, on/off in any case; empty or None → None."""
    if value is None or isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if not word:
        return None
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise InputError(f"not a yes/no value: {str(value)[:20]!r}; use true or false")


# --- whole preferences -----------------------------------------------------------


def apply_options(
    prefs: Preferences, options: dict[str, Any], known_slugs: Collection[str]
) -> Preferences:
    """A new Preferences: `prefs` with `options` applied (keys as in `OPTIONS`).

    None leaves a setting unchanged, and so does a blank string for a single value
    (hour, frequency, …); a blank string or empty list for a list option (topics,
    keywords, …) empties it. Errors name the option, as in
    `hour: must be a whole number from 0 to 23, not 25`."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise InputError(f"unknown option: {', '.join(unknown)}")
    changes: dict[str, Any] = {}
    for key, value in options.items():
        blank = isinstance(value, str) and not value.strip()
        if value is None or (blank and key not in ("topics", *LIST_OPTIONS)):
            continue
        try:
            changes[key] = _parse_option(key, value, known_slugs)
        except InputError as error:
            raise InputError(f"{key}: {error}") from None
    return dataclasses.replace(prefs, **changes)


def _parse_option(key: str, value: Any, known_slugs: Collection[str]) -> Any:
    if key == "topics":
        return parse_topics(value, known_slugs)
    if key == "categories":
        return parse_categories(value)
    if key in LIST_OPTIONS:
        return split_list(value)
    if key == "cross_lists":
        return parse_bool(value)
    parsers = {
        "frequency": parse_frequency,
        "weekday": parse_weekday,
        "timezone": parse_timezone,
        "hour": parse_hour,
        "max_papers": parse_max_papers,
        "format": parse_format,
        "min_upvotes": parse_min_upvotes,
    }
    return parsers[key](value)


# --- helpers -----------------------------------------------------------------------


def _raw_items(value: str | Iterable[str] | None) -> list[str]:
    """Non-blank pieces. List items are split on `;` too, so no stored item can
    hold one and the `; `-joined export always splits back the same way."""
    if value is None:
        return []
    texts = [value] if isinstance(value, str) else [str(item) for item in value]
    return [piece.strip() for text in texts for piece in text.split(";") if piece.strip()]


def _parse_int(value: str | int, low: int, high: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise InputError(f"must be a whole number from {low} to {high}, not {str(value)[:20]!r}")
    if not low <= number <= high:
        raise InputError(f"must be a whole number from {low} to {high}, not {number}")
    return number


def _parse_choice(text: str, choices: tuple[str, ...]) -> str:
    word = str(text).strip().lower()
    if word not in choices:
        raise InputError(f"must be {' or '.join(choices)}, not {str(text)[:20]!r}")
    return word


def _suggest(slug: str, known_slugs: Collection[str]) -> str:
    """A few valid slugs, the closest spellings first."""
    close = difflib.get_close_matches(slug, list(known_slugs), n=3, cutoff=0.5)
    rest = [known for known in sorted(known_slugs) if known not in close]
    return ", ".join([*close, *rest][:5]) + " (see `digest topics list`)"


@cache
def _zone_keys() -> dict[str, str]:
    """Lowercased IANA key → key, read once (about 30 ms)."""
    return {key.lower(): key for key in zoneinfo.available_timezones() - _NOT_ZONES}
