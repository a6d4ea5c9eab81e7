"""A realistic day for `benchmarks/daily_run.py`, bulk-inserted into a database.

- Papers: `papers_per_day` a day for today and each history day, each about one
  main catalog topic (skewed popularity) with titles and abstracts built from the
  catalog's keywords and real abstract sentences (/work/shared/data/ranking-dev.jsonl
  when present), arXiv-like categories (10% cross-lists), and Hugging Face
  upvotes for about one paper in eight (heavy-tailed), some trending days later.
- Subscribers: joined uniformly over the last 90 days; 1-5 topics drawn by
  popularity; 10% with custom keywords (ranked per subscriber), 5% weekly, 8%
  text-only; timezones weighted as a worldwide list's readers are.
- History: one sent edition per subscriber and day (week, for weekly readers)
  since they joined, within `history_days`, pointing at a digest of papers of
  that day in their topics, shared by every reader with the same topics that
  day (as the send path shares identical digests); written day by day, oldest
  first, as daily sends would have written it.

Everything is deterministic for a seed. Rows are inserted with explicit ids in
chunks, then PostgreSQL's sequences are moved past them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text

from digest.db.schema import digests, editions, papers, subscribers
from digest.papers import Paper
from digest.preferences import Preferences, TopicChoice
from digest.store.digests import record_key
from digest.store.papers import to_row
from digest.store.subscribers import prefs_to_row
from digest.topics import load_catalog

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DEV_DATA = Path("/work/shared/data/ranking-dev.jsonl")
CHUNK = 5000
# Share of readers per timezone (a worldwide ML audience: US, Europe, India, East Asia).
ZONES = {
    "America/New_York": 18,
    "America/Los_Angeles": 11,
    "America/Chicago": 5,
    "America/Sao_Paulo": 3,
    "Europe/London": 8,
    "Europe/Berlin": 10,
    "Europe/Paris": 6,
    "Asia/Kolkata": 10,
    "Asia/Shanghai": 12,
    "Asia/Tokyo": 5,
    "Asia/Seoul": 4,
    "Australia/Sydney": 3,
    "UTC": 5,
}
HOURS = {6: 15, 7: 35, 8: 25, 9: 15, 12: 5, 18: 5}
FIRST = "Ada Alan Grace Kurt Emmy Yann Fei Andrej Ilya Daphne Chen Wei Priya Arjun Sofia Lukas"
LAST = "Lovelace Turing Hopper Gödel Noether LeCun Li Karpathy Sutskever Koller Zhang Wang Patel"
GENERIC = (
    "We propose a simple and scalable approach. Experiments on standard benchmarks show "
    "consistent gains over strong baselines. Our analysis reveals when and why the method "
    "helps. Code and models are publicly released. We further study robustness to "
    "distribution shift and provide ablations of each component."
)
PATTERNS = (
    "{K1} for {k2} with {m}",
    "Towards {a} {k1}: {m} meets {k2}",
    "{M}: {a} {k1} via {k2}",
    "Rethinking {k1} in the era of {k2}",
    "{A} {k1} with {m} and {k2}",
    "On the limits of {k1} for {k2}",
)
METHODS = "sparse attention,diffusion priors,contrastive pretraining,mixture of experts,"
METHODS += "state space models,graph transformers,low-rank adapters,reward models,retrieval"
ADJECTIVES = "scalable,robust,efficient,faithful,self-supervised,zero-shot,calibrated,unified"


@dataclass
class World:
    """What was generated, for the report and the naive baseline."""

    papers: int = 0
    subscribers: int = 0
    history_editions: int = 0
    history_digests: int = 0
    keys_by_day_topic: dict[tuple[int, str], list[str]] = field(default_factory=dict)


def popularity(rng: random.Random) -> dict[str, float]:
    """Zipf-like weights over the catalog, the usual favourites first."""
    slugs = list(load_catalog())
    head = ["large-language-models", "computer-vision", "nlp", "generative-models", "multimodal"]
    rest = [s for s in slugs if s not in head]
    rng.shuffle(rest)
    return {slug: 1.0 / (rank + 1) for rank, slug in enumerate(head + rest)}


def _sentences() -> list[str]:
    lines = DEV_DATA.read_text(encoding="utf-8").splitlines() if DEV_DATA.exists() else []
    found = []
    for line in lines:
        for sentence in json.loads(line)["abstract"].split(". "):
            if 40 <= len(sentence) <= 300:
                found.append(sentence.strip().rstrip(".") + ".")
    return found or [s + "." for s in GENERIC.split(". ")]


def make_paper(
    rng: random.Random, key: str, slug: str, day: int, sentences: list[str], today: datetime = NOW
) -> Paper:
    """A paper of topic `slug` announced `day` days before `today`."""
    topic = load_catalog()[slug]
    words = list(topic.keywords) + list(topic.related)
    k1, k2 = rng.choice(topic.keywords), rng.choice(words)
    m, a = rng.choice(METHODS.split(",")), rng.choice(ADJECTIVES.split(","))
    title = rng.choice(PATTERNS).format(
        k1=k1, K1=k1[:1].upper() + k1[1:], k2=k2, m=m, M=m.title(), a=a, A=a.capitalize()
    )
    body = rng.sample(sentences, rng.randint(4, 8))
    body.insert(1, f"We study {k1} and {k2}, with a focus on {rng.choice(words)}.")
    announced = today.replace(hour=1, minute=0) - timedelta(days=day)
    home = list(topic.categories) or ["cs.LG"]
    cats = [rng.choice(home)] + rng.sample(
        ["cs.LG", "cs.AI", "stat.ML", "cs.CL"], rng.randint(0, 2)
    )
    cross = rng.random() < 0.1
    paper = Paper(
        key=key,
        arxiv_id=key,
        version=1,
        title=title,
        abstract=" ".join(body),
        authors=[
            f"{rng.choice(FIRST.split())} {rng.choice(LAST.split())}"
            for _ in range(rng.randint(1, 12))
        ],
        categories=list(dict.fromkeys(cats)),
        primary_category=cats[0],
        published_at=announced - timedelta(days=1),
        updated_at=announced - timedelta(days=1),
        available_at=announced,
        first_seen_at=announced + timedelta(minutes=30),
        changed_at=announced + timedelta(minutes=30),
        abs_url=f"https://arxiv.org/abs/{key}",
        pdf_url=f"https://arxiv.org/pdf/{key}",
        sources=["arxiv"],
        announce_type="cross" if cross else "new",
    )
    if rng.random() < 0.125:
        trending = min(announced + timedelta(days=rng.choice((0, 0, 1, 2))), today)
        paper.upvotes = int(rng.paretovariate(1.3)) + rng.randint(0, 5)
        paper.comments = rng.randint(0, 6)
        paper.trending_at = paper.trending_seen_at = trending
        paper.hf_url = f"https://huggingface.co/papers/{key}"
        paper.sources = ["arxiv", "hf"]
        if rng.random() < 0.4:
            paper.code_url = f"https://github.com/lab{rng.randint(1, 999)}/{key}"
    return paper


def insert_papers(engine: Engine, rng: random.Random, world: World, per_day: int, days: int):
    weights = popularity(rng)
    slugs, w = list(weights), list(weights.values())
    sentences = _sentences()
    serial = 0
    for day in range(days + 1):
        rows = []
        for _ in range(per_day):
            slug = rng.choices(slugs, w)[0]
            key = f"26{11 - day // 28:02d}.{serial:05d}"
            serial += 1
            rows.append(to_row(make_paper(rng, key, slug, day, sentences)))
            world.keys_by_day_topic.setdefault((day, slug), []).append(key)
        _insert(engine, papers, rows)
        world.papers += len(rows)


def add_day(engine: Engine, day: int, per_day: int, seed: int = 10) -> datetime:
    """The papers of `day` days after NOW (`per_day` of them, topics drawn by
    the popularity `generate(seed=seed)` used); returns that day's NOW."""
    today = NOW + timedelta(days=day)
    weights = popularity(random.Random(seed))  # what insert_papers drew first
    slugs, w = list(weights), list(weights.values())
    rng, sentences = random.Random(seed * 1000 + day), _sentences()
    rows = []
    for serial in range(per_day):
        key = f"2612.{day:02d}{serial:04d}"
        rows.append(to_row(make_paper(rng, key, rng.choices(slugs, w)[0], 0, sentences, today)))
    _insert(engine, papers, rows)
    return today


def make_prefs(rng: random.Random, weights: dict[str, float]) -> Preferences:
    slugs, w = list(weights), list(weights.values())
    chosen: list[str] = []
    for _ in range(rng.choices((1, 2, 3, 4, 5), (30, 30, 20, 12, 8))[0]):
        slug = rng.choices(slugs, w)[0]
        if slug not in chosen:
            chosen.append(slug)
    prefs = Preferences(
        topics=[TopicChoice(s) for s in chosen],
        timezone=rng.choices(list(ZONES), list(ZONES.values()))[0],
        hour=rng.choices(list(HOURS), list(HOURS.values()))[0],
        format="text" if rng.random() < 0.08 else "html",
    )
    if rng.random() < 0.10:
        pool = [k for s in chosen for k in load_catalog()[s].keywords]
        prefs.keywords = rng.sample(pool, min(len(pool), rng.randint(1, 3)))
    if rng.random() < 0.05:
        prefs.frequency, prefs.weekday = "weekly", rng.randrange(7)
    return prefs


def subscriber_rows(rng: random.Random, count: int) -> Iterator[tuple[dict, Preferences]]:
    weights = popularity(random.Random(1))
    names = ("", "", "", "Ada", "José Martínez", "李雷", "Zoë O'Brien")
    for n in range(1, count + 1):
        prefs = make_prefs(rng, weights)
        joined = NOW - timedelta(seconds=rng.uniform(0, 90 * 86400))
        row = prefs_to_row(prefs) | {
            "id": n,
            "email": f"reader{n}@example.org",
            "name": rng.choice(names) or None,
            "status": "active",
            "created_at": joined,
            "confirmed_at": joined,
        }
        yield row, prefs


def insert_subscribers(engine: Engine, rng: random.Random, world: World, count: int, days: int):
    """Subscribers, then their sent history day by day, oldest day first: a
    day's editions together, their ids in that order, as daily sends write
    them. So the table and its indexes are laid out as a live database's
    are: a subscriber's editions spread over the pages of the days they
    were sent, and each day's entries in the (subscriber, period) index
    inserted among the earlier days' (its leaves split as they do in
    service, rather than packed full in key order)."""
    readers: list[tuple[int, datetime, str, tuple[str, ...]]] = []
    subs: list[dict] = []
    for row, prefs in subscriber_rows(rng, count):
        subs.append(row)
        slugs = tuple(t.slug for t in prefs.topics)
        readers.append((row["id"], row["created_at"], prefs.frequency, slugs))
        if len(subs) >= 4 * CHUNK:
            _insert(engine, subscribers, subs)
            world.subscribers += len(subs)
            subs = []
    _insert(engine, subscribers, subs)
    world.subscribers += len(subs)
    eds, shared = [], []
    digest_ids: dict[str, int] = {}
    records: dict[tuple, tuple[str, list]] = {}
    edition_id = 0
    for day in range(days, 0, -1):
        claimed = NOW - timedelta(days=day)
        for sid, joined, frequency, slugs in readers:
            step = 7 if frequency == "weekly" else 1
            if day % step or claimed <= joined:
                continue
            edition_id += 1
            shape = (day, frequency, slugs)
            if shape not in records:
                records[shape] = _history_record(world, frequency, slugs, day)
            period, sections = records[shape]
            key = record_key(period, sections)
            if key not in digest_ids:
                digest_ids[key] = len(digest_ids) + 1
                shared.append(_digest_row(digest_ids[key], key, period, sections, day))
            before = NOW - timedelta(days=day + step)  # the reader's previous edition
            previous = before if day + step <= days and before > joined else None
            eds.append(
                _edition_row(edition_id, sid, period, claimed, digest_ids[key])
                | {"reached_after": previous}
            )
            if len(eds) > 4 * CHUNK:
                _flush(engine, world, eds, shared)
                eds, shared = [], []
    _flush(engine, world, eds, shared)


def _flush(engine, world, eds, shared) -> None:
    _insert(engine, digests, shared)
    _insert(engine, editions, eds)
    world.history_editions += len(eds)
    world.history_digests += len(shared)


def _history_record(
    world: World, frequency: str, slugs: tuple[str, ...], day: int
) -> tuple[str, list]:
    """(period, sections) of the digest readers with these topics got that day."""
    rng = random.Random(repr((day, frequency, list(slugs))))
    pool = [k for slug in slugs for k in world.keys_by_day_topic.get((day, slug), [])]
    want = rng.randint(3, 20 if frequency == "weekly" else 12)
    keys = rng.sample(pool, min(want, len(pool)))
    claimed = NOW - timedelta(days=day)
    if frequency == "weekly":
        year, week, _ = claimed.date().isocalendar()
        period = f"{year}-W{week:02d}"
    else:
        period = claimed.date().isoformat()
    reason = "cs.LG · matched: " + (slugs[0] if slugs else "keywords")
    sections = [{"slug": slug, "title": slug, "entries": []} for slug in slugs]
    for i, key in enumerate(keys):
        sections[i % len(sections)]["entries"].append([key, reason])
    return period, [s for s in sections if s["entries"]]


def _digest_row(digest_id: int, key: str, period: str, sections: list, day: int) -> dict:
    return {
        "id": digest_id,
        "key": key,
        "period": period,
        "sections": sections,
        "paper_count": sum(len(s["entries"]) for s in sections),
        "created_at": NOW - timedelta(days=day),
    }


def _edition_row(edition_id: int, sid: int, period: str, claimed: datetime, digest_id: int) -> dict:
    """A sent edition as a send since revision 0012 writes it (its paper count
    is its digest's, its mailer its run's)."""
    return {
        "id": edition_id,
        "subscriber_id": sid,
        "period": period,
        "status": "sent",
        "claimed_at": claimed,
        "sent_at": claimed,
        "digest_id": digest_id,
        "message_id": f"<{edition_id}.{sid}@papers.example.org>",
    }


def _insert(engine: Engine, table, rows: list[dict]) -> None:
    for start in range(0, len(rows), CHUNK):
        with engine.begin() as conn:
            conn.execute(table.insert(), rows[start : start + CHUNK])


def fix_sequences(engine: Engine) -> None:
    """PostgreSQL: move the id sequences past the explicit ids inserted."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        for table in ("papers", "subscribers", "editions", "digests"):
            conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                )
            )


def generate(engine: Engine, *, subscribers: int, papers: int, history_days: int, seed: int = 10):
    rng = random.Random(seed)
    world = World()
    insert_papers(engine, rng, world, papers, history_days)
    insert_subscribers(engine, rng, world, subscribers, history_days)
    fix_sequences(engine)
    analyze(engine)
    return world


def analyze(engine: Engine) -> None:
    """PostgreSQL: take the planner's statistics of the bulk-loaded tables, as
    a live database has them (without, it picks plans for empty tables: a
    claim batch sorted the whole subscriber list to find 200)."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE"))
