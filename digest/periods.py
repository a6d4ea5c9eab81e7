"""Edition periods and the pure `due` rule.

A period names one edition of one subscriber: a local date `YYYY-MM-DD` for daily
subscribers, an ISO week `YYYY-Www` (ISO year, Monday first) for weekly ones. It is
the second half of the unique `(subscriber, period)` key that `send` claims.

Local wall times become instants by one rule, used everywhere here: a wall time
that does not exist (the spring-forward gap) means the first instant after the
gap; a wall time that happens twice (fall back) means its first occurrence. So
every local day has exactly one delivery moment, and `due` never skips or repeats.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from digest.preferences import Preferences

DAILY = "daily"
WEEKLY = "weekly"

_DAILY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WEEKLY_RE = re.compile(r"(\d{4})-W(\d{2})")


def period_for(prefs: Preferences, local_date: date) -> str:
    """The period that contains `local_date`: the date itself (daily) or its ISO
    week (weekly)."""
    if prefs.frequency == WEEKLY:
        iso = local_date.isocalendar()
        return f"{iso.year:04d}-W{iso.week:02d}"
    return local_date.isoformat()


def local_today(prefs: Preferences, now: datetime) -> date:
    """The subscriber's local date at `now` (aware)."""
    return now.astimezone(ZoneInfo(prefs.timezone)).date()


def current_period(prefs: Preferences, now: datetime) -> str:
    """The period the subscriber's local date at `now` falls in."""
    return period_for(prefs, local_today(prefs, now))


def period_for_date(prefs: Preferences, d: date) -> str:
    """The period `digest send --date D` names: D itself, or the ISO week containing D."""
    return period_for(prefs, d)


@lru_cache(maxsize=1024)
def parse_period(period: str) -> tuple[str, date]:
    """`("daily", that date)` or `("weekly", Monday of that ISO week)`.

    Raises ValueError for anything else, including a week 53 the ISO year lacks."""
    if _DAILY_RE.fullmatch(period):
        return DAILY, date.fromisoformat(period)
    match = _WEEKLY_RE.fullmatch(period)
    if match:
        return WEEKLY, date.fromisocalendar(int(match[1]), int(match[2]), 1)
    raise ValueError(f"not a period (YYYY-MM-DD or YYYY-Www): {period!r}")


def latest_period(periods: Iterable[str]) -> str | None:
    """The chronologically latest of `periods` (by first day), the one to pass to
    `due` as `last_period`; None for none. Not the most recently claimed one: a
    `send --date` for an old date claims an earlier period later."""
    return max(periods, key=_chronological, default=None)


@lru_cache(maxsize=4096)
def _chronological(period: str) -> tuple[date, str]:
    """`latest_period`'s order: by first day, then by name. Cached (a
    subscriber's claimed periods are compared at every send, and subscribers
    share them)."""
    return parse_period(period)[1], period


def period_start(period: str, tz: str | ZoneInfo) -> datetime:
    """The instant (UTC) the period begins: local midnight of its first day in `tz`."""
    _, start = parse_period(period)
    return _resolve(_zone_key(tz), start, 0)


def delivery_moment(prefs: Preferences, period: str) -> datetime:
    """The instant (UTC) `period` becomes due for `prefs`: `prefs.hour`:00 local on
    the period's date, or on `prefs.weekday` of its week for weekly periods."""
    kind, start = parse_period(period)
    if kind == WEEKLY:
        start += timedelta(days=prefs.weekday)
    return _resolve(prefs.timezone, start, prefs.hour)


def due(
    prefs: Preferences,
    now: datetime,
    last_period: str | None,
    *,
    force_hour: bool = False,
) -> str | None:
    """The period to send now, or None.

    That is the latest period whose delivery moment is at or before `now` (after
    downtime only the latest missed one: no pile-up), unless it does not come
    chronologically after `last_period`, the subscriber's last claimed period.
    `force_hour` (`digest send --now`) takes the current local day or week as
    reached. `now` must be timezone-aware.

    Periods compare by their first day, so after a switch between daily and
    weekly, a period that starts on or before the last claimed one is not due.
    """
    if now.tzinfo is None:
        raise ValueError("due() needs an aware datetime")
    reached = _reached(prefs.frequency, prefs.weekday, prefs.timezone, prefs.hour, now, force_hour)
    if reached is None:
        return None
    day, period = reached
    if last_period is not None and day <= parse_period(last_period)[1]:
        return None
    return period


@lru_cache(maxsize=4096)
def _reached(
    frequency: str, weekday: int, timezone: str, hour: int, now: datetime, force_hour: bool
) -> tuple[date, str] | None:
    """`due` before its comparison with the last claimed period: (the first day
    of the latest period reached at `now`, that period), or None (the unreal
    bound). It depends on these preferences only, so a send's subscribers
    share it: cached (a send asks once per subscriber with one `now`)."""
    prefs = Preferences(frequency=frequency, weekday=weekday, timezone=timezone, hour=hour)
    day = local_today(prefs, now)
    if not force_hour:
        step = timedelta(days=7 if frequency == WEEKLY else 1)
        # A period's delivery moment can fall after `now` when its hour has not
        # come yet; the one before it is then the latest. One step back covers
        # any real-world offset change; the bound only guards the unreal.
        for _ in range(3):
            if _delivery_on(prefs, day) <= now:
                break
            day -= step
        else:
            return None
    if frequency == WEEKLY:
        day -= timedelta(days=day.weekday())  # compare weeks by their Monday
    return day, period_for(prefs, day)


def _delivery_on(prefs: Preferences, day: date) -> datetime:
    """The delivery moment of the period containing `day`."""
    if prefs.frequency == WEEKLY:
        day = day - timedelta(days=day.weekday() - prefs.weekday)
    return _resolve(prefs.timezone, day, prefs.hour)


def _zone_key(tz: str | ZoneInfo) -> str:
    return tz if isinstance(tz, str) else tz.key


@lru_cache(maxsize=8192)
def _resolve(tz_key: str, day: date, hour: int) -> datetime:
    """`day` at `hour`:00 wall time in `tz_key` as a UTC instant (gap → first
    instant after it, repeated hour → first occurrence). Cached: the scheduler
    asks for the same few moments every minute."""
    zone = ZoneInfo(tz_key)
    wall = datetime.combine(day, time(hour))
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first  # exists; fold=0 is the first of two occurrences
    # In a gap, fold=0 reads the wall time with the offset from before the gap
    # and lands at or after the transition, fold=1 with the offset from after it
    # and lands before; the transition (the first instant after the gap) lies
    # between. Bisect to the second.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first
    while high - low > timedelta(seconds=1):
        mid = low + (high - low) / 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(zone).replace(tzinfo=None) > wall:
            high = mid
        else:
            low = mid
    return high
