"""Edition periods and `due`, checked minute by minute across daylight-saving changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest

from digest.periods import (
    delivery_moment,
    due,
    latest_period,
    parse_period,
    period_for,
    period_for_date,
    period_start,
)
from digest.preferences import Preferences

MINUTE = timedelta(minutes=1)
GRID_MINUTES = 72 * 60

# Each grid starts at 00:00 UTC and runs 72 hours across one change.
GRIDS = {
    "eu-spring": datetime(2026, 3, 27, tzinfo=UTC),  # Europe: 29 March, 01:00 UTC
    "eu-fall": datetime(2026, 10, 24, tzinfo=UTC),  # Europe: 25 October, 01:00 UTC
    "us-spring": datetime(2026, 3, 7, tzinfo=UTC),  # US: 8 March, 07:00 UTC
    "us-fall": datetime(2026, 10, 30, tzinfo=UTC),  # US: 1 November, 06:00 UTC
}
ZONES = ("Asia/Tokyo", "Europe/Berlin", "America/New_York")
HOURS = (0, 1, 2, 7, 23)  # 2 sits in both gaps; 1 (US) and 2 (EU) repeat in the fall
SCHEDULES = (("daily", 0), ("weekly", 6), ("weekly", 0))  # Sunday is the change day


@cache
def local_walls(grid: str, zone: str) -> tuple[datetime, ...]:
    """The naive local wall time at every minute of the grid."""
    tz = ZoneInfo(zone)
    start = GRIDS[grid]
    return tuple(
        (start + i * MINUTE).astimezone(tz).replace(tzinfo=None) for i in range(GRID_MINUTES)
    )


def expected_claims(prefs: Preferences, walls: tuple[datetime, ...]) -> list[tuple[int, str]]:
    """An oracle independent of `periods`: each period is claimed at the first grid
    minute whose local wall time reaches its target wall time (for a gap that is the
    first instant after it, for a repeated hour its first occurrence), unless that
    was already so at the grid's first minute."""
    claims = []
    day = walls[0].date() - timedelta(days=7)
    while day <= walls[-1].date():
        if prefs.frequency == "daily" or day.weekday() == prefs.weekday:
            target = datetime(day.year, day.month, day.day, prefs.hour)
            first = next((i for i, wall in enumerate(walls) if wall >= target), None)
            if first:  # None: not reached in the grid; 0: reached before it
                claims.append((first, period_for(prefs, day)))
        day += timedelta(days=1)
    return sorted(claims)


def run_scheduler(prefs: Preferences, start: datetime) -> tuple[str | None, list[tuple[int, str]]]:
    """Call `due` every minute and claim what it returns, like the send tick."""
    last = due(prefs, start, None)
    initial, claims = last, []
    for i in range(1, GRID_MINUTES):
        period = due(prefs, start + i * MINUTE, last)
        if period is not None:
            claims.append((i, period))
            last = period
    return initial, claims


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("frequency,weekday", SCHEDULES)
def test_it_claims_each_period_once_at_its_local_hour(grid, zone, frequency, weekday):
    start = GRIDS[grid]
    walls = local_walls(grid, zone)
    for hour in HOURS:
        prefs = Preferences(frequency=frequency, weekday=weekday, timezone=zone, hour=hour)
        initial, claims = run_scheduler(prefs, start)

        assert initial is not None  # the period before the grid was due at its start
        assert claims == expected_claims(prefs, walls), (hour, claims)
        periods = [initial] + [period for _, period in claims]
        starts = [parse_period(p)[1] for p in periods]
        assert starts == sorted(set(starts)), "periods strictly increase"
        for minute, period in claims:
            moment = start + minute * MINUTE
            assert moment == delivery_moment(prefs, period)
            kind, first_day = parse_period(period)
            day = first_day + timedelta(days=weekday if kind == "weekly" else 0)
            target = datetime(day.year, day.month, day.day, hour)
            assert walls[minute - 1] < target <= walls[minute], "at the local hour, not later"
        if frequency == "daily":
            # One edition per local day: consecutive dates, none skipped or repeated,
            # three or so of them (a local day of 23 or 25 hours shifts the count).
            days = [date.fromisoformat(p) for p in periods]
            assert all(b - a == timedelta(days=1) for a, b in zip(days, days[1:], strict=False))
            assert 2 <= len(claims) <= 3


def test_it_delivers_in_a_gap_at_the_first_instant_after_it():
    berlin = Preferences(timezone="Europe/Berlin", hour=2)
    assert delivery_moment(berlin, "2026-03-29") == datetime(2026, 3, 29, 1, tzinfo=UTC)  # 03:00
    new_york = Preferences(timezone="America/New_York", hour=2)
    assert delivery_moment(new_york, "2026-03-08") == datetime(2026, 3, 8, 7, tzinfo=UTC)
    # Lord Howe springs forward by half an hour: 02:00 → 02:30 (+11:00).
    lord_howe = Preferences(timezone="Australia/Lord_Howe", hour=2)
    assert delivery_moment(lord_howe, "2026-10-04") == datetime(2026, 10, 3, 15, 30, tzinfo=UTC)


def test_it_delivers_a_repeated_hour_at_its_first_occurrence():
    new_york = Preferences(timezone="America/New_York", hour=1)
    assert delivery_moment(new_york, "2026-11-01") == datetime(2026, 11, 1, 5, tzinfo=UTC)  # EDT
    berlin = Preferences(timezone="Europe/Berlin", hour=2)
    assert delivery_moment(berlin, "2026-10-25") == datetime(2026, 10, 25, 0, tzinfo=UTC)  # CEST


def test_it_sends_only_the_latest_period_after_downtime():
    prefs = Preferences(timezone="Europe/Berlin", hour=7)
    # Last claim on the 25th, then nothing until the 29th.
    assert due(prefs, datetime(2026, 3, 29, 4, tzinfo=UTC), "2026-03-25") == "2026-03-28"
    assert due(prefs, datetime(2026, 3, 29, 5, tzinfo=UTC), "2026-03-25") == "2026-03-29"
    weekly = replace(prefs, frequency="weekly", weekday=2)
    assert due(weekly, datetime(2026, 3, 29, 5, tzinfo=UTC), "2026-W10") == "2026-W13"


def test_it_never_makes_a_claimed_period_due_again():
    prefs = Preferences(timezone="Asia/Tokyo", hour=7)
    now = datetime(2026, 3, 28, 23, tzinfo=UTC)  # 08:00 on the 29th in Tokyo
    assert due(prefs, now, None) == "2026-03-29"
    assert due(prefs, now, "2026-03-29") is None
    assert due(prefs, now + timedelta(hours=20), "2026-03-29") is None
    # A later period claimed (say, before a move to a western timezone) wins too.
    assert due(prefs, now, "2026-03-30") is None
    assert due(prefs, now, "2026-W14") is None


def test_it_compares_periods_by_their_first_day_across_a_frequency_switch():
    weekly = Preferences(frequency="weekly", weekday=0, timezone="UTC", hour=7)
    saturday = datetime(2026, 3, 28, 12, tzinfo=UTC)
    assert due(weekly, saturday, "2026-03-28") is None  # W13 began on the 23rd
    assert due(weekly, saturday + timedelta(days=2), "2026-03-28") == "2026-W14"
    daily = replace(weekly, frequency="daily")
    assert due(daily, saturday, "2026-W13") == "2026-03-28"


def test_it_forces_the_current_period_with_force_hour():
    prefs = Preferences(timezone="Asia/Tokyo", hour=23)
    now = datetime(2026, 3, 28, 1, tzinfo=UTC)  # 10:00 on the 28th in Tokyo
    assert due(prefs, now, "2026-03-26") == "2026-03-27"
    assert due(prefs, now, "2026-03-27") is None
    assert due(prefs, now, "2026-03-27", force_hour=True) == "2026-03-28"
    assert due(prefs, now, "2026-03-28", force_hour=True) is None
    weekly = replace(prefs, frequency="weekly", weekday=6)
    assert due(weekly, now, "2026-W12") is None
    assert due(weekly, now, "2026-W12", force_hour=True) == "2026-W13"
    assert due(weekly, now, "2026-W13", force_hour=True) is None


def test_it_uses_the_iso_year_for_weekly_periods():
    weekly = Preferences(frequency="weekly", weekday=4, timezone="UTC", hour=7)
    assert period_for(weekly, date(2026, 12, 31)) == "2026-W53"  # 2026 has 53 ISO weeks
    assert period_for(weekly, date(2027, 1, 1)) == "2026-W53"
    assert period_for(weekly, date(2027, 1, 4)) == "2027-W01"
    assert period_for(weekly, date(2024, 12, 30)) == "2025-W01"
    assert delivery_moment(weekly, "2026-W53") == datetime(2027, 1, 1, 7, tzinfo=UTC)
    assert due(weekly, datetime(2027, 1, 1, 8, tzinfo=UTC), "2026-W52") == "2026-W53"
    assert due(weekly, datetime(2027, 1, 8, 8, tzinfo=UTC), "2026-W53") == "2027-W01"
    with pytest.raises(ValueError):
        parse_period("2027-W53")  # 2027 has only 52


def test_it_names_the_period_of_a_date():
    daily = Preferences()
    weekly = Preferences(frequency="weekly")
    assert period_for_date(daily, date(2026, 11, 19)) == "2026-11-19"
    assert period_for_date(weekly, date(2026, 11, 19)) == "2026-W47"
    assert parse_period("2026-W47") == ("weekly", date(2026, 11, 16))
    assert parse_period("2026-11-19") == ("daily", date(2026, 11, 19))


def test_it_finds_the_latest_period_chronologically():
    assert latest_period([]) is None
    assert latest_period(["2026-03-28", "2026-03-02", "2026-03-10"]) == "2026-03-28"
    assert latest_period(["2026-W13", "2026-03-22", "2020-W53"]) == "2026-W13"
    assert latest_period(["2026-W12", "2026-03-28"]) == "2026-03-28"  # not by string


def test_it_starts_a_period_at_local_midnight():
    assert period_start("2026-03-29", "Europe/Berlin") == datetime(2026, 3, 28, 23, tzinfo=UTC)
    tokyo = ZoneInfo("Asia/Tokyo")
    assert period_start("2026-W14", tokyo) == datetime(2026, 3, 29, 15, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["", "2026-3-1", "2026-W5", "2026-W00", "2026-13-01", "W47"])
def test_it_rejects_malformed_periods(bad):
    with pytest.raises(ValueError):
        parse_period(bad)


def test_it_requires_an_aware_now():
    with pytest.raises(ValueError):
        due(Preferences(), datetime(2026, 3, 28, 12), None)
