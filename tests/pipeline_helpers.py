"""Builders for pipeline tests: papers, subscribers, a send run, the outbox."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

from sqlalchemy import insert

from digest.db.schema import digests, subscribers
from digest.mail.outbox import OutboxMailer
from digest.papers import Paper
from digest.preferences import Preferences, TopicChoice
from digest.render import SiteInfo
from digest.send import SendOptions, run_send
from digest.store.edition_claims import Claim, claim_editions
from digest.store.papers import upsert_papers
from digest.store.subscribers import add_subscriber, prefs_to_row

DAY1 = datetime(2026, 11, 19, 5, 0, tzinfo=UTC)  # arXiv announcement, 00:00 US Eastern
SECRET = "test-secret-key"
SITE = SiteInfo(
    base_url="https://digest.example.org",
    sender="Trending Papers <digest@example.org>",
    postal_address="1 Example Street, Springfield",
    list_id="Trending Papers Digest <digest.digest.example.org>",
)

VISION_TITLES = [
    "Diffusion Priors for Monocular Depth Estimation",
    "Open-Vocabulary Semantic Segmentation with Vision Transformers",
    "Self-Supervised Video Object Tracking at Scale",
    "Robust 3D Object Detection from Sparse Point Clouds",
    "Neural Radiance Fields for Dynamic Scene Reconstruction",
    "Image Super-Resolution with Latent Diffusion",
]


def vision_paper(
    n: int, when: datetime, *, version: int = 1, announce: str = "new", **extra
) -> Paper:
    key = f"2611.{14000 + n:05d}"
    values = dict(
        key=key,
        arxiv_id=key,
        version=version,
        title=VISION_TITLES[n % len(VISION_TITLES)] + ("" if n < len(VISION_TITLES) else f" {n}"),
        abstract=(
            "We study image segmentation, object detection and visual recognition with "
            "convolutional networks and vision transformers on standard benchmarks."
        ),
        authors=["Ada Lovelace", "Alan Turing"],
        categories=["cs.CV", "cs.LG"],
        primary_category="cs.CV",
        available_at=when if announce in ("new", "cross") else None,
        updated_at=when,
        announce_type=announce,
        abs_url=f"https://arxiv.org/abs/{key}",
        pdf_url=f"https://arxiv.org/pdf/{key}",
        sources=["arxiv"],
    )
    values.update(extra)
    return Paper(**values)


def store(engine, papers, now):
    with engine.begin() as conn:
        return upsert_papers(conn, papers, now)


def subscribe(engine, address="ada@example.org", now=DAY1, **prefs) -> int:
    prefs.setdefault("topics", [TopicChoice("computer-vision")])
    with engine.begin() as conn:
        return add_subscriber(
            conn, address, Preferences(**prefs), status="active", now=now - timedelta(days=1)
        )


def claim_edition(
    conn, subscriber_id: int, period: str, keys: list[str], *, now, status="pending", run_id=None
) -> int | None:
    """Claim (subscriber, period) showing `keys` in one untitled section, as
    the send path's bulk claim writes it; None when already claimed."""
    sections = [{"slug": "", "title": "", "entries": [[k, ""] for k in keys]}] if keys else []
    claim = Claim(subscriber_id, period, status, sections)
    return claim_editions(conn, [claim], now=now, run_id=run_id).get(subscriber_id)


# An edition row of `readers_and_a_digest`'s day, less its subscriber and status.
EDITION_ROW = {"period": "2026-01-01", "claimed_at": DAY1, "digest_id": 1}


def readers_and_a_digest(conn, count: int) -> None:
    """Active subscribers 1..count (r<i>@example.org) and digest 1, inserted in
    bulk: the ground for editions written straight into the table."""
    prefs = prefs_to_row(Preferences())
    people = [
        prefs | {"id": i, "email": f"r{i}@example.org", "status": "active", "created_at": DAY1}
        for i in range(1, count + 1)
    ]
    conn.execute(insert(subscribers), people)
    digest = {"id": 1, "key": "k", "period": "2026-01-01", "sections": [], "paper_count": 0}
    conn.execute(insert(digests).values(**digest, created_at=DAY1))


def send(engine, outbox: Path, now: datetime, **options):
    mailer = OutboxMailer(outbox, SITE.sender)
    opts = SendOptions(now=now, force_hour=options.pop("force_hour", True), **options)
    return run_send(engine, mailer, opts, site=SITE, secret=SECRET)


def read_outbox(outbox: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted(outbox.glob("*.eml"))
    ]


def body_text(message) -> str:
    return message.get_body(("plain",)).get_content()


def paper_keys_in(message) -> set[str]:
    import re

    return set(re.findall(r"arxiv\.org/abs/(\d{4}\.\d{5})", body_text(message)))
