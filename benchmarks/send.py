"""The whole send path per subscriber: plan (candidates, shared rankings,
composition), claim (edition + sent log in one transaction), render and hand to
a mailer, on the bundled sample listings.

    python benchmarks/send.py [--subscribers 2000] [--database URL] [--write]

Without --database it uses a fresh SQLite file; pass a PostgreSQL URL (an empty
database you can throw away) to measure there. The mailer keeps nothing (the
outbox's disk writes are not what is measured). `--write` records the figures
under "## Sending" in benchmarks/RESULTS.md, leaving other sections alone.
"""

from __future__ import annotations

import argparse
import platform
import random
import re
import resource
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from digest.db.engine import open_engine, upgrade
from digest.demo import DAYS, load_day, replay_time
from digest.digests import Message
from digest.mail.base import Outcome, one_call_each
from digest.mail.message import build_email, email_bytes
from digest.preferences import Preferences, TopicChoice
from digest.render import SiteInfo
from digest.send import SendOptions, run_send
from digest.store.subscribers import add_subscriber
from digest.topics import load_catalog

RESULTS = Path(__file__).parent / "RESULTS.md"
SITE = SiteInfo(base_url="https://papers.example.org", sender="Digest <d@papers.example.org>")
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Asia/Kolkata")


class CountingMailer:
    """Builds the RFC 5322 bytes a real mailer would send, then drops them."""

    name = "benchmark"

    def __init__(self) -> None:
        self.sent = 0

    calls = staticmethod(one_call_each)

    def send(self, batch: Sequence[Message]) -> list[Outcome]:
        for message in batch:
            email_bytes(build_email(message, SITE.sender))
        self.sent += len(batch)
        return [Outcome("sent") for _ in batch]

    def close(self) -> None:
        pass


def add_subscribers(engine, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    slugs = list(load_catalog())
    now = replay_time(DAYS[0])
    with engine.begin() as conn:
        for n in range(count):
            prefs = Preferences(
                topics=[TopicChoice(s) for s in rng.sample(slugs, rng.randint(1, 4))],
                timezone=rng.choice(ZONES),
                format="text" if n % 10 == 0 else "html",
            )
            add_subscriber(conn, f"reader{n}@example.org", prefs, status="active", now=now)


def run(url: str, count: int) -> list[tuple[str, float, int, int]]:
    engine = open_engine(url)
    upgrade(engine)
    add_subscribers(engine, count)
    rows = []
    for day in DAYS:
        load_day(engine, day)
        mailer = CountingMailer()
        started = time.perf_counter()
        report = run_send(
            engine,
            mailer,
            SendOptions(now=replay_time(day), force_hour=True),
            site=SITE,
            secret="benchmark",
        )
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
        rows.append((str(day), elapsed, report.counts["sent"] + report.counts["empty"], peak))
    engine.dispose()
    return rows


def table(backend: str, count: int, rows) -> str:
    lines = [
        f"{count} subscribers with 1-4 random topics each, {backend}; Python "
        f"{platform.python_version()}, one process.",
        "",
        "| day | editions | seconds | ms per subscriber | subscribers/s | peak RSS |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for day, seconds, editions, peak in rows:
        lines.append(
            f"| {day} | {editions} | {seconds:.1f} | {1000 * seconds / count:.2f} | "
            f"{count / seconds:,.0f} | {peak / 2**20:.0f} MiB |"
        )
    return "\n".join(lines)


def write_section(text: str) -> None:
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    section = f"## Sending\n\n`python benchmarks/send.py` ({time.strftime('%Y-%m-%d')})\n\n{text}\n"
    if "## Sending" in current:
        current = re.sub(r"## Sending\n.*?(?=\n## |\Z)", section, current, flags=re.S)
    else:
        current = current.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(current, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--database", help="SQLAlchemy URL of a throw-away database")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{tmp}/bench.db"
        backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        text = table(backend, args.subscribers, run(url, args.subscribers))
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
