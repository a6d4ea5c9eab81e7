"""Subscriber rows read back (digest.store.subscribers): the JSON preference
columns decode to what was written, and subscribers sharing a stored list
never share the list object."""

from __future__ import annotations

from datetime import UTC, datetime

from digest.preferences import Preferences, TopicChoice
from digest.store.subscribers import (
    add_subscriber,
    get_subscriber,
    list_subscribers,
    lock_active_batch,
    subscribers_by_id,
)

NOW = datetime(2026, 3, 2, 7, tzinfo=UTC)


def _prefs() -> Preferences:
    return Preferences(
        topics=[TopicChoice("vision", 5, 10), TopicChoice("nlp")],
        keywords=["diffusion", "ünïcode"],
        categories=["cs.CV"],
        authors=["Ada Lovelace"],
        mute=["survey"],
        frequency="weekly",
        weekday=2,
        timezone="Europe/Paris",
        hour=9,
    )


def test_every_read_returns_the_preferences_written_in_lists_of_its_own(engine):
    with engine.begin() as conn:
        for n in range(2):
            add_subscriber(conn, f"r{n}@example.org", _prefs(), status="active", now=NOW)
    with engine.begin() as conn:
        reads = [
            lock_active_batch(conn, after=0, size=10),
            list(subscribers_by_id(conn, [1, 2]).values()),
            list_subscribers(conn),
            [get_subscriber(conn, "r0@example.org"), get_subscriber(conn, "R1@example.org")],
        ]
    for found in reads:
        assert [s.prefs for s in found] == [_prefs(), _prefs()]
        first, second = found
        first.prefs.keywords.append("mutated")
        first.prefs.topics.append(TopicChoice("extra"))
        assert second.prefs == _prefs()
