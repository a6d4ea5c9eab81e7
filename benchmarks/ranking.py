"""Ranking benchmark: how good one-topic digests are, and how fast ranking is.

Quality: each labelled topic of ../shared/data/ranking-dev.jsonl (relative to the
repository root; papers with title and abstract only, no categories) is ranked
and its one-topic digest (the top 10, or fewer when the gate shows fewer) is
scored as the data README defines it:

    precision = relevant shown / shown
    coverage  = relevant shown / min(10, relevant that exist)

per topic and as a macro average, for
    (a) BM25 over title+abstract with the topic's one-line description as the
        query, always the top 10 (the reference baseline);
    (b) the catalog ranking without its gate, always the top 10;
    (c) the catalog ranking as digests use it (gated: only relevant papers).

Speed: rank_topic for the 20 required topics over 2000 synthetic papers (a
day's pool) and 10000 (about the 14-day window of the busiest feeds).

Run from the repository root: python benchmarks/ranking.py [--no-write]
Results go to benchmarks/RESULTS.md under "## Ranking" (other sections kept).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from digest.papers import Paper
from digest.ranking import RankingIndex, rank_topic
from digest.textmatch import analyse
from digest.topics import Topic, load_catalog

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DIGEST_RANKING_DATA", ROOT.parent / "shared/data/ranking-dev.jsonl"))
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SHOW = 10
REQUIRED = (
    "computer-vision", "nlp", "large-language-models", "speech-audio", "reinforcement-learning",
    "robotics", "graph-learning", "medical-health", "security-robustness", "efficient-ml",
    "theory", "generative-models", "interpretability", "ml-for-science", "multimodal",
    "ai-safety-alignment", "information-retrieval", "time-series", "datasets-benchmarks",
    "quantum-computing",
)  # fmt: skip
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def load_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def bm25_top(query: str, rows: list[dict], k1: float = 1.2, b: float = 0.75) -> list[str]:
    """Classic BM25 (stemmed, title+abstract as one field): ids of the top SHOW."""
    docs = [Counter(analyse(f"{r['title']} {r['abstract']}")) for r in rows]
    n, avg = len(docs), sum(sum(d.values()) for d in docs) / len(docs)
    df = Counter(t for d in docs for t in d)
    scores = []
    for row, doc in zip(rows, docs, strict=True):
        length, s = sum(doc.values()), 0.0
        for t in set(analyse(query)):
            if t in doc:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                s += idf * doc[t] * (k1 + 1) / (doc[t] + k1 * (1 - b + b * length / avg))
        scores.append((-s, row["id"]))
    return [key for _, key in sorted(scores)[:SHOW]]


def ungated(topic: Topic, index: RankingIndex) -> list[str]:
    everything = Topic(**{**topic.__dict__, "min_relevance": 1e-9})
    return [r.key for r in rank_topic(everything, index, NOW)[:SHOW]]


def gated(topic: Topic, index: RankingIndex) -> list[str]:
    return [r.key for r in rank_topic(topic, index, NOW)[:SHOW]]


def score(shown: list[str], relevant: set[str]) -> tuple[float, float]:
    hits = sum(1 for key in shown if key in relevant)
    precision = hits / len(shown) if shown else (1.0 if not relevant else 0.0)
    coverage = hits / min(SHOW, len(relevant)) if relevant else 1.0
    return precision, coverage


def quality(rows: list[dict]) -> tuple[list[str], dict[str, str]]:
    catalog = load_catalog()
    papers = [Paper(key=r["id"], title=r["title"], abstract=r["abstract"]) for r in rows]
    index = RankingIndex(papers)
    slugs = sorted({label for r in rows for label in r["labels"]})
    methods = {
        "(a) BM25 description, top 10": lambda t: bm25_top(t.description, rows),
        "(b) catalog, ungated top 10": lambda t: ungated(t, index),
        "(c) catalog, gated": lambda t: gated(t, index),
    }
    lines = ["| topic | relevant | " + " | ".join(f"{m} P / C / shown" for m in methods) + " |"]
    lines.append("|---|---:|" + "---:|" * len(methods))
    totals = {m: [0.0, 0.0] for m in methods}
    for slug in slugs:
        relevant = {r["id"] for r in rows if slug in r["labels"]}
        cells = []
        for name, method in methods.items():
            shown = method(catalog[slug])
            p, c = score(shown, relevant)
            totals[name][0] += p
            totals[name][1] += c
            cells.append(f"{p:.2f} / {c:.2f} / {len(shown)}")
        lines.append(f"| {slug} | {len(relevant)} | " + " | ".join(cells) + " |")
    n = len(slugs)
    macro = {m: f"{p / n:.2f} / {c / n:.2f}" for m, (p, c) in totals.items()}
    lines.append("| **macro average** | | " + " | ".join(f"**{v}**" for v in macro.values()) + " |")
    return lines, macro


def synthetic_pool(n: int, seed: int = 7) -> list[Paper]:
    """Papers made of catalog vocabulary and filler, with categories and signals."""
    rng = random.Random(seed)
    catalog = load_catalog()
    vocab = [w for t in catalog.values() for w in t.keywords + t.related]
    filler = (
        "we", "propose", "method", "results", "show", "approach", "model", "performance",
        "task", "data", "training", "experiments", "state", "art", "novel", "framework",
        "learning", "based", "using", "improve", "existing",
    )  # fmt: skip
    cats = sorted({c for t in catalog.values() for c in t.categories + t.related_categories})
    papers = []
    for i in range(n):
        words = lambda k: " ".join(  # noqa: E731
            rng.choice(vocab) if rng.random() < 0.08 else rng.choice(filler) for _ in range(k)
        )
        papers.append(
            Paper(
                key=f"2611.{i:05d}",
                title=words(10),
                abstract=words(180),
                categories=rng.sample(cats, rng.randint(1, 3)),
                authors=[f"Author {rng.randint(1, 500)}" for _ in range(rng.randint(1, 8))],
                upvotes=rng.choice([None, 0, 3, 12, 80]),
                available_at=NOW - timedelta(hours=rng.randint(0, 96)),
            )
        )
    return papers


def speed(n_papers: int) -> list[str]:
    papers = synthetic_pool(n_papers)
    topics = [load_catalog()[s] for s in REQUIRED]
    start = time.perf_counter()
    index = RankingIndex(papers)
    built = time.perf_counter()
    counts = [len(rank_topic(t, index, NOW)) for t in topics]
    done = time.perf_counter()
    return [
        f"- {len(topics)} topics over {n_papers} synthetic papers (title 10 words, abstract"
        f" 180): index built in {(built - start) * 1000:.0f} ms, all topics ranked in"
        f" {(done - built) * 1000:.0f} ms ({(done - built) * 1000 / len(topics):.1f} ms a"
        f" topic; {sum(counts)} relevant (topic, paper) pairs). Python {sys.version.split()[0]}.",
    ]


def write_section(body: list[str]) -> None:
    """Replace (or append) the "## Ranking" section of RESULTS.md, keeping the rest."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    section = "## Ranking\n\n" + "\n".join(body).rstrip() + "\n"
    match = re.search(r"^## Ranking\n.*?(?=^## |\Z)", text, flags=re.M | re.S)
    if match:
        text = text[: match.start()] + section + "\n" + text[match.end() :].lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="Print only.")
    args = parser.parse_args()
    body = [f"`python benchmarks/ranking.py` ({datetime.now(UTC):%Y-%m-%d})", ""]
    if DATA.exists():
        rows = load_rows(DATA)
        lines, macro = quality(rows)
        body += [
            f"One-topic digests on {DATA.name} ({len(rows)} papers, title and abstract"
            " only, so no category evidence). Each cell: precision / coverage / papers"
            " shown; coverage = relevant shown / min(10, relevant that exist).",
            "",
            *lines,
            "",
        ]
    else:
        print(f"skipping quality: {DATA} not found", file=sys.stderr)
        body += [f"(quality skipped: {DATA.name} not found)", ""]
    body += ["Speed (index built once per pool, then every topic ranked over it):", ""]
    body += speed(2000) + speed(10000)
    print("\n".join(body))
    if not args.no_write:
        write_section(body)
        print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
