"""Schedule expressions and the default schedules: next fire times, across
daylight-saving changes, and clear errors for bad config."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from digest.config import ConfigError, load_settings
from digest.schedule import job_specs
from digest.triggers import DEFAULT_SCHEDULES, parse_duration, parse_schedule

NEW_YORK = ZoneInfo("America/New_York")


def fire_times(expr: str, start: datetime, count: int) -> list[datetime]:
    """The next `count` fire times after `start`, as the scheduler asks for them."""
    trigger = parse_schedule(expr)
    times, previous, now = [], None, start
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, now)
        times.append(fire.astimezone(UTC))
        previous, now = fire, fire
    return times


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_the_arxiv_default_keeps_its_eastern_hour_across_the_fall_back_change():
    # US daylight saving ends on Sunday 2026-11-01: 20:30 EDT is 00:30 UTC, 20:30 EST 01:30 UTC.
    times = fire_times(DEFAULT_SCHEDULES["arxiv-rss"], utc(2026, 10, 29, 23, 0), 16)
    local = [t.astimezone(NEW_YORK) for t in times]
    assert {t.strftime("%a") for t in local} <= {"Sun", "Mon", "Tue", "Wed", "Thu"}
    assert {t.strftime("%H:%M") for t in local} == {"20:30", "21:30", "22:30", "23:30"}
    evenings = [t for t in times if t.astimezone(NEW_YORK).hour == 20]
    # Thursday 2026-10-29 (EDT), then nothing Friday and Saturday, then Sunday (EST).
    assert evenings[:3] == [
        utc(2026, 10, 30, 0, 30),
        utc(2026, 11, 2, 1, 30),
        utc(2026, 11, 3, 1, 30),
    ]


def test_the_arxiv_default_across_the_spring_forward_change():
    # US daylight saving starts on Sunday 2026-03-08: 20:30 EST is 01:30 UTC, 20:30 EDT 00:30 UTC.
    first = fire_times(DEFAULT_SCHEDULES["arxiv-rss"], utc(2026, 3, 5, 1, 0), 1)
    assert first == [utc(2026, 3, 5, 1, 30)]  # Wednesday 2026-03-04 20:30 EST
    sunday = fire_times(DEFAULT_SCHEDULES["arxiv-rss"], utc(2026, 3, 6, 12, 0), 1)
    assert sunday == [utc(2026, 3, 9, 0, 30)]  # Sunday 2026-03-08 20:30 EDT


def test_a_berlin_morning_job_keeps_its_local_hour_across_both_changes():
    autumn = fire_times("0 7 * * * Europe/Berlin", utc(2026, 10, 23, 12, 0), 3)
    assert autumn == [utc(2026, 10, 24, 5, 0), utc(2026, 10, 25, 6, 0), utc(2026, 10, 26, 6, 0)]
    spring = fire_times("0 7 * * * Europe/Berlin", utc(2026, 3, 27, 12, 0), 3)
    assert spring == [utc(2026, 3, 28, 6, 0), utc(2026, 3, 29, 5, 0), utc(2026, 3, 30, 5, 0)]


def test_night_times_that_a_change_skips_or_repeats_behave_as_documented():
    # 02:30 does not exist in Berlin on 2026-03-29: it runs an hour later (03:30 CEST).
    skipped = fire_times("30 2 * * * Europe/Berlin", utc(2026, 3, 28, 12, 0), 2)
    assert skipped == [utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]
    # 02:30 happens twice on 2026-10-25: it runs at both.
    repeated = fire_times("30 2 * * * Europe/Berlin", utc(2026, 10, 24, 12, 0), 3)
    assert repeated == [
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 25, 1, 30),
        utc(2026, 10, 26, 1, 30),
    ]


def test_weekdays_count_like_cron_not_like_apscheduler():
    # 2026-11-29 is a Sunday. Cron: 0 and 7 are Sunday, 1-5 Monday to Friday.
    sunday = utc(2026, 11, 29)
    assert fire_times("0 9 * * 0", sunday - timedelta(days=1), 1) == [utc(2026, 11, 29, 9)]
    assert fire_times("0 9 * * 7", sunday - timedelta(days=1), 1) == [utc(2026, 11, 29, 9)]
    weekdays = fire_times("0 9 * * 1-5", sunday, 6)
    assert [t.strftime("%a") for t in weekdays] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Mon"]
    wrapped = fire_times("0 9 * * fri-mon", utc(2026, 11, 26), 4)
    assert [t.strftime("%a") for t in wrapped] == ["Fri", "Sat", "Sun", "Mon"]


def test_every_is_aligned_to_the_clock_whenever_the_process_starts():
    assert fire_times("every 5m", utc(2026, 11, 29, 7, 2, 13), 2) == [
        utc(2026, 11, 29, 7, 5),
        utc(2026, 11, 29, 7, 10),
    ]
    assert fire_times("every 2s", utc(2026, 11, 29, 7, 0, 1), 1) == [utc(2026, 11, 29, 7, 0, 2)]
    assert parse_duration("90s") == parse_duration(90) == timedelta(seconds=90)


def test_off_means_no_job():
    assert parse_schedule("off") is None
    assert parse_schedule("") is None


def test_the_default_jobs_fit_the_sources(tmp_path):
    config = tmp_path / "digest.toml"
    config.write_text(
        """
[[sources]]
name = "arxiv"
kind = "arxiv-rss"
url = "https://rss.arxiv.org/rss/cs.LG"

[[sources]]
name = "backfill"
kind = "arxiv-api"
url = "https://export.arxiv.org/api/query"
categories = ["cs.LG"]

[[sources]]
name = "hf"
kind = "hf-daily"
url = "https://huggingface.co/api/daily_papers"

[[sources]]
name = "journal"
kind = "feed"
url = "https://example.org/feed"
schedule = "0 6 * * mon Europe/Berlin"

[[sources]]
name = "paused"
kind = "feed"
url = "https://example.org/other"
enabled = false

[scheduler]
send_every = "2m"
"""
    )
    specs = {s.id: s for s in job_specs(load_settings(config, {}))}
    assert set(specs) == {"fetch:arxiv", "fetch:hf", "fetch:journal", "send", "housekeeping"}
    assert specs["fetch:hf"].kwargs == {"source": "hf"}
    assert specs["fetch:hf"].func == "digest.jobs:fetch_source"
    assert specs["send"].func == "digest.jobs:send_tick"
    hourly = fire_times("5 * * * *", utc(2026, 11, 29, 7, 10), 2)
    assert hourly == [utc(2026, 11, 29, 8, 5), utc(2026, 11, 29, 9, 5)]
    assert str(specs["send"].trigger) == "interval[0:02:00]"
    assert "Europe/Berlin" in repr(specs["fetch:journal"].trigger)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[[sources]]\nname = "x"\nkind = "feed"\nurl = "https://e.org/f"\nschedule = "0 25 * * *"',
            "sources[1].schedule: invalid cron expression",
        ),
        (
            '[[sources]]\nname = "x"\nkind = "feed"\nurl = "https://e.org/f"\nschedule = "0 7 * * * Mars/Olympus"',
            "sources[1].schedule: unknown timezone 'Mars/Olympus'",
        ),
        (
            '[[sources]]\nname = "x"\nkind = "feed"\nurl = "https://e.org/f"\nschedule = "hourly"',
            "sources[1].schedule: expected 'every 5m', 'off', or five cron fields",
        ),
        (
            '[scheduler]\nsend_every = "soon"',
            "scheduler.send_every in|: expected a duration like '5m'",
        ),
        (
            '[scheduler]\nhousekeeping = "0 3 * *"',
            "scheduler.housekeeping in|: expected 'every 5m'",
        ),
        ('[scheduler]\nsend_evry = "5m"', "scheduler.send_evry in|: is not a known setting"),
    ],
)
def test_a_bad_schedule_is_one_line_naming_the_key(tmp_path, toml, message):
    config = tmp_path / "digest.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {})
    assert all(part in str(caught.value) for part in message.split("|"))
    assert "\n" not in str(caught.value)
