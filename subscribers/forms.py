"""Form fields to the option dicts `digest.subscriber_input.apply_options`
reads, so the web forms follow exactly the rules of the CLI and CSV import."""

from __future__ import annotations

import zoneinfo
from collections.abc import Collection
from functools import cache

from starlette.datastructures import FormData

from digest.preferences import Preferences, TopicChoice
from digest.subscriber_input import LIST_OPTIONS, InputError
from digest.text import one_line

SINGLE = ("frequency", "weekday", "hour", "timezone", "max_papers", "format", "min_upvotes")


def topic_specs(form: FormData, known: Collection[str], *, limits: bool) -> list[str]:
    """The checked topics as SLUG[:MAX[:MIN_UPVOTES]] specs; with `limits`, each
    topic's `max_SLUG` and `min_SLUG` fields are read too."""
    specs = []
    for slug in dict.fromkeys(form.getlist("topics")):
        if slug not in known:
            raise InputError(f"topics: unknown topic {slug[:60]!r}")
        most = (form.get(f"max_{slug}") or "").strip() if limits else ""
        least = (form.get(f"min_{slug}") or "").strip() if limits else ""
        specs.append(":".join([slug, most, least]).rstrip(":") if (most or least) else slug)
    return specs


def options_from_form(form: FormData, known: Collection[str], *, full: bool) -> dict:
    """Options for `apply_options`. The sign-up form (`full=False`) has topics,
    keywords and the schedule; the preferences form (`full=True`) has all."""
    options: dict = {"topics": topic_specs(form, known, limits=full)}
    lists = LIST_OPTIONS if full else ("keywords",)
    for key in lists:
        options[key] = str(form.get(key) or "")
    for key in SINGLE:
        if key in form:
            options[key] = str(form.get(key))
    if full:
        options["cross_lists"] = "true" if form.get("cross_lists") else "false"
    return options


def name_from_form(form: FormData) -> str | None:
    return one_line(str(form.get("name") or ""), 100) or None


def require_interests(prefs: Preferences) -> None:
    if not prefs.topics and not prefs.has_custom_interests:
        raise InputError("topics: pick at least one topic (or give keywords)")


def topic_rows(catalog: dict, chosen: list[TopicChoice]) -> list[dict]:
    """Every catalog topic with whether it is chosen and its limits."""
    by_slug = {choice.slug: choice for choice in chosen}
    rows = []
    for slug, topic in catalog.items():
        choice = by_slug.get(slug)
        rows.append(
            {
                "slug": slug,
                "name": topic.name,
                "description": topic.description,
                "checked": choice is not None,
                "max": "" if choice is None or choice.max_papers is None else choice.max_papers,
                "min": "" if choice is None or choice.min_upvotes is None else choice.min_upvotes,
            }
        )
    return rows


@cache
def timezones() -> list[str]:
    return sorted(zoneinfo.available_timezones() - {"localtime", "posixrules", "Factory"})
