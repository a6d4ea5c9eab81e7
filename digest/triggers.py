"""Schedule expressions for `digest run`, and the default schedule of each source kind.

A schedule is written as one string (TOML `schedule = "…"` on a source, or a
`[scheduler]` key):

- a crontab line of five fields, `minute hour day month weekday`, optionally
  followed by an IANA timezone (default UTC), e.g. `"30 20-23 * * sun-thu
  America/New_York"`. Weekdays follow cron: `0` and `7` are Sunday, names
  `sun`…`sat` work too, and a range may wrap (`sun-thu`, `fri-mon`). The times
  are wall-clock times in that zone, so a job keeps its local hour across
  daylight-saving changes. APScheduler 3 runs a wall time that the change
  skips an hour later that day, and one it repeats at both occurrences (the
  defaults stay clear of the night hours where changes happen).
- `every N[s|m|h]`, e.g. `every 5m`: a fixed interval, aligned to the epoch (so
  `every 5m` fires at :00, :05, … UTC whenever the process started).
- `off` (or an empty string): no scheduled job.

`parse_schedule` raises ValueError with a one-line message; config validation
turns it into "sources[2].schedule: …".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# APScheduler loads when a schedule is parsed: every command reads the config,
# which names these defaults, and few of them schedule anything (cold start).
if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger
    from apscheduler.triggers.interval import IntervalTrigger

# Defaults per source kind (see README, "Running the scheduler").
DEFAULT_SCHEDULES = {
    # arXiv announces Sunday to Thursday at 20:00 US Eastern; the feed keeps that
    # listing until the next announcement, so the later hours only re-ask
    # (conditional GET, usually a 304) in case the announcement ran late.
    "arxiv-rss": "30 20-23 * * sun-thu America/New_York",
    "arxiv-api": "off",  # backfills: run `digest fetch --source … --date …` by hand
    "hf-daily": "5 * * * *",  # upvotes grow through the day
    "feed": "15 */4 * * *",
}
DEFAULT_SEND_EVERY = "5m"
DEFAULT_HOUSEKEEPING = "45 3 * * *"
DEFAULT_STANDBY_POLL = "5s"

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# APScheduler 3 numbers weekdays from Monday = 0; we pass names only.


def parse_duration(text: str | int | float) -> timedelta:
    """`"5m"`, `"90s"`, `"1h"` or a number of seconds, as a positive timedelta."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise ValueError("expected a duration like '5m', '30s' or '1h'")
        seconds = float(match[1]) * _UNITS[match[2]]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return timedelta(seconds=seconds)


def parse_schedule(text: str | None) -> BaseTrigger | None:
    """The trigger for a schedule expression; None for `off`. ValueError if invalid."""
    spec = (text or "").strip()
    if spec.lower() in ("", "off", "none", "never"):
        return None
    if spec.lower().startswith("every "):
        return interval_trigger(parse_duration(spec[6:]))
    fields = spec.split()
    if len(fields) not in (5, 6):
        raise ValueError(
            "expected 'every 5m', 'off', or five cron fields 'minute hour day month weekday' "
            "and an optional timezone"
        )
    zone = _zone(fields[5]) if len(fields) == 6 else UTC
    minute, hour, day, month, weekday = fields[:5]
    from apscheduler.triggers.cron import CronTrigger

    try:
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=_weekdays(weekday),
            timezone=zone,
        )
    except ValueError as exc:
        raise ValueError(f"invalid cron expression: {exc}") from None


def interval_trigger(every: timedelta) -> IntervalTrigger:
    """Every `every`, on multiples of it since 2000-01-01 UTC (stable across restarts)."""
    from apscheduler.triggers.interval import IntervalTrigger

    return IntervalTrigger(seconds=every.total_seconds(), start_date=_EPOCH, timezone=UTC)


def source_schedule(kind: str, schedule: str | None) -> str:
    """The schedule a source runs on: its own, else its kind's default."""
    return schedule if schedule is not None else DEFAULT_SCHEDULES[kind]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r} (an IANA name like Europe/Berlin)") from None


def _weekdays(field: str) -> str:
    """A cron weekday field as APScheduler weekday names (cron numbering, wrapping ranges)."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ValueError(f"invalid weekday step in {field!r}")
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            first_text, last_text = base.split("-", 1)
            first, last = _day(first_text, field), _day(last_text, field)
        else:
            first = last = _day(base, field)
        span = (last - first) % 7
        days.update((first + i) % 7 for i in range(0, span + 1, step or 1))
    return ",".join(_DAYS[d] for d in sorted(days, key=lambda d: (d - 1) % 7))


def _day(text: str, field: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text) % 7
    if text[:3] in _DAYS and len(text) >= 3:
        return _DAYS.index(text[:3])
    raise ValueError(f"invalid weekday {text!r} in {field!r} (use 0-7 or sun..sat)")
