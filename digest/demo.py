"""`digest demo`: the whole daily flow on bundled sample listings, offline.

Two consecutive announcement days are replayed with a simulated clock: day one
is loaded and three sample subscribers get their first digests; day two is
loaded and they get the next ones, in which nothing from day one repeats.
Everything lands in the current folder: a SQLite database and `outbox/` with
one `.eml` per digest, the HTML parts, and an `index.html` to compare them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine

from digest.ingest import SourceReport, store_result
from digest.preferences import Preferences, TopicChoice
from digest.send import SendOptions, SendReport, run_send
from digest.sources import FetchState, SourceResult, arxiv_rss, hf_daily
from digest.store.subscribers import add_subscriber, get_subscriber

DAYS = (date(2026, 11, 19), date(2026, 11, 20))
# Replayed clock of each day: listings are loaded after the arXiv announcement
# (00:00 US Eastern) and the Hugging Face list, digests sent an hour later,
# before the end of the day in every sample timezone.
LOAD_HOUR_UTC = 12
SEND_HOUR_UTC = 13


@dataclass
class SampleSubscriber:
    email: str
    name: str
    prefs: Preferences


SAMPLE_SUBSCRIBERS = (
    SampleSubscriber(
        "ada@example.org",
        "Ada",
        Preferences(
            topics=[TopicChoice("computer-vision"), TopicChoice("generative-models", 5)],
            timezone="Europe/Berlin",
            hour=7,
        ),
    ),
    SampleSubscriber(
        "grace@example.org",
        "Grace",
        Preferences(
            topics=[
                TopicChoice("large-language-models"),
                TopicChoice("nlp", 5),
                TopicChoice("information-retrieval"),
            ],
            keywords=["retrieval-augmented generation"],
            timezone="America/New_York",
            hour=6,
            format="text",
        ),
    ),
    SampleSubscriber(
        "kenji@example.org",
        "Kenji",
        Preferences(
            topics=[
                TopicChoice("reinforcement-learning"),
                TopicChoice("robotics"),
                TopicChoice("ml-for-science", None, 1),
            ],
            mute=["survey"],
            timezone="Asia/Tokyo",
            hour=8,
            max_papers=12,
        ),
    ),
)


def sample_bytes(name: str) -> bytes:
    return resources.files("digest.samples").joinpath(name).read_bytes()


def replay_time(day: date, hour: int = SEND_HOUR_UTC) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def load_day(engine: Engine, day: date) -> list[SourceReport]:
    """Store the bundled arXiv and Hugging Face listings of `day`, as a fetch would."""
    now = replay_time(day, LOAD_HOUR_UTC)
    loads = [
        ("arxiv", arxiv_rss.parse(sample_bytes(f"arxiv-{day}.xml"), "arxiv", now)),
        ("hf", hf_daily.parse(sample_bytes(f"hf-{day}.json"), "hf", day)),
    ]
    reports = []
    for name, (papers, skipped, fetched) in loads:
        result = SourceResult(papers, skipped, fetched, FetchState())
        reports.append(store_result(engine, name, result, SourceReport(name), now=now))
    return reports


def add_sample_subscribers(engine: Engine, now: datetime) -> None:
    with engine.begin() as conn:
        for sample in SAMPLE_SUBSCRIBERS:
            if get_subscriber(conn, sample.email) is None:
                add_subscriber(
                    conn, sample.email, sample.prefs, status="active", now=now, name=sample.name
                )


def send_day(
    engine: Engine, mailer, day: date, *, site, secret: str, send_empty: bool
) -> SendReport:
    options = SendOptions(now=replay_time(day), force_hour=True, send_empty=send_empty)
    return run_send(engine, mailer, options, site=site, secret=secret)


def outbox_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.eml"))
