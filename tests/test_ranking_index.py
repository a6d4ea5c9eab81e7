"""The inverted index changes no ranking: scoring only the papers that carry
evidence, or only some papers, gives what scoring every paper of the pool from
a scan of each paper's text gives."""

from __future__ import annotations

import random
import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from importlib import resources

import pytest

from digest.editions import Planner
from digest.papers import Paper
from digest.preferences import Preferences, TopicChoice
from digest.ranking import RankingIndex, _Alone, _distinctive, _scored, rank_topic
from digest.ranking_index import K1, TITLE_WEIGHT, B
from digest.selection import ByArrival
from digest.sources import arxiv_rss, hf_daily
from digest.store.subscribers import Subscriber
from digest.textmatch import analyse, contains, stems, words
from digest.topics import INTERESTS_SLUG, Topic, load_catalog

NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def sample_pool() -> list[Paper]:
    """The bundled listings of both days (Hugging Face repeats some arXiv keys)."""
    samples, papers = resources.files("digest.samples"), []
    for day in (19, 20):
        listing = samples.joinpath(f"arxiv-2026-11-{day}.xml").read_bytes()
        papers += arxiv_rss.parse(listing, "arxiv", NOW)[0]
        listing = samples.joinpath(f"hf-2026-11-{day}.json").read_bytes()
        papers += hf_daily.parse(listing, "hf", date(2026, 11, day))[0]
    for n, paper in enumerate(papers):
        paper.first_seen_at = NOW - timedelta(hours=n % 40)
    return papers


def synthetic_pool(seed: int, n: int = 300) -> list[Paper]:
    """Catalog words and filler, repeated words, shared surnames and listings."""
    rng = random.Random(seed)
    catalog = list(load_catalog().values())
    vocab = [w for t in catalog for w in t.keywords + t.related]
    filler = [
        "we",
        "propose",
        "model",
        "learning",
        "results",
        "the",
        "of",
        "a",
        "data",
        "deep",
        "data",
        "learning",
    ]
    categories = sorted({c for t in catalog for c in t.categories + t.related_categories})
    names = [
        "Ada Li",
        "Alan Li",
        "A. Turing",
        "Grace Hopper",
        "José Álvarez",
        "Li",
        "Wei Zhang",
        "Zhang, Wei",
    ]

    def words(k: int) -> str:
        return " ".join(
            rng.choice(vocab) if rng.random() < 0.3 else rng.choice(filler) for _ in range(k)
        )

    papers = []
    for i in range(n):
        listed = rng.sample(categories, rng.randint(0, 3))
        papers.append(
            Paper(
                key=f"2611.{i:05d}",
                title=words(rng.randint(0, 12)),
                abstract=words(rng.randint(0, 120)),
                categories=listed,
                primary_category=rng.choice([None, *listed]) if listed else None,
                authors=rng.sample(names, rng.randint(0, 3)),
                upvotes=rng.choice([None, 0, 4, 90]),
                available_at=NOW - timedelta(hours=rng.uniform(0, 100)),
                first_seen_at=NOW - timedelta(hours=rng.uniform(0, 100)),
            )
        )
    return papers


POOLS = {"samples": sample_pool(), **{f"synthetic-{s}": synthetic_pool(s) for s in range(3)}}


def unique(papers: list[Paper]) -> list[Paper]:
    return list({p.key: p for p in reversed(papers)}.values())[::-1]


class Scan:
    """Each paper's words, for finding terms the slow way."""

    def __init__(self, index: RankingIndex) -> None:
        self.fields = [(stems(p.title or ""), stems(p.abstract or "")) for p in index.papers]
        n = len(self.fields)
        self.avg_title = max(sum(len(t) for t, _ in self.fields) / n, 1.0)
        self.avg_abstract = max(sum(len(a) for _, a in self.fields) / n, 1.0)

    def find(self, tokens: tuple[str, ...]) -> list[tuple[int, float]]:
        """(position, BM25F saturation) of each paper holding the phrase."""
        out = []
        for i, (title, abstract) in enumerate(self.fields):
            in_title, in_abstract = contains(title, tokens), contains(abstract, tokens)
            if in_title or in_abstract:
                norm_title = 1 - B + B * len(title) / self.avg_title
                norm_abstract = 1 - B + B * len(abstract) / self.avg_abstract
                x = TITLE_WEIGHT * in_title / norm_title + in_abstract / norm_abstract
                out.append((i, x / (K1 + x)))
        return out


def full_scan(topic: Topic, index: RankingIndex, scan: Scan) -> list:
    """The topic's ranking from scoring every paper of the pool, its evidence
    found by scanning each paper's words (what ranking did before the index)."""
    text: dict[int, tuple] = {}
    for k, term in enumerate(_distinctive(topic)):
        found = scan.find(term.tokens)
        idf = index.idf(len(found))
        for i, saturation in found:
            text[i] = text.get(i, ()) + (term.weight * idf * saturation, k)
    return _scored(topic, index, range(len(index)), text, NOW)


def random_topic(rng: random.Random, papers: list[Paper]) -> Topic:
    words = [w for p in rng.sample(papers, 10) for w in (p.title or "").split()] or ["model"]
    phrases = [" ".join(rng.sample(words, rng.randint(1, 3))) for _ in range(rng.randint(0, 4))]
    phrases += rng.sample(["model", "learning", "data data", "zebra", "of the"], 2)
    authors = {a for p in papers for a in p.authors}
    categories = sorted({c for p in papers for c in p.categories})
    return Topic(
        slug=rng.choice([INTERESTS_SLUG, "random"]),  # catalog topics have generic terms
        name="Random",
        keywords=tuple(phrases),
        related=tuple(rng.sample(words, min(len(words), 2))),
        categories=tuple(rng.sample(categories, min(len(categories), rng.randint(0, 2)))),
        related_categories=tuple(rng.sample(categories, min(len(categories), 1))),
        authors=tuple(rng.sample(sorted(authors), min(len(authors), rng.randint(0, 2))))
        + tuple(rng.sample(["A. Li", "Zhang", "Nobody Here"], rng.randint(0, 2))),
        min_relevance=rng.choice([0.75, 0.15, 1e-9]),
    )


def topics_for(name: str) -> list[Topic]:
    rng = random.Random(name)
    papers = POOLS[name]
    return list(load_catalog().values()) + [random_topic(rng, papers) for _ in range(25)]


@pytest.mark.parametrize("name", POOLS)
def test_a_term_s_occurrences_are_what_a_scan_of_every_paper_finds(name):
    index = RankingIndex(POOLS[name])
    rng = random.Random(name)
    phrases = [analyse(p.title or "")[:k] for p in index.papers[:40] for k in (1, 2, 3)]
    phrases += [("learn", "learn"), ("data", "data", "data"), ("zebraish",), ("model", "zebraish")]
    phrases += [tuple(rng.sample(sorted({t for p in phrases for t in p}), 2)) for _ in range(20)]
    scan = Scan(index)
    for tokens in filter(None, phrases):
        found = index.occurrences(tokens)
        expected = scan.find(tokens)
        assert list(zip(found.positions, found.saturations, strict=True)) == expected, tokens
        assert found.idf == index.idf(len(expected))


@pytest.mark.parametrize("name", POOLS)
def test_ranking_scores_papers_with_evidence_as_a_scan_of_the_whole_pool_does(name):
    index = RankingIndex(POOLS[name])
    scan, relevant = Scan(index), 0
    for topic in topics_for(name):
        ranked = rank_topic(topic, index, NOW)
        assert ranked == full_scan(topic, index, scan), topic
        relevant += len(ranked)
    assert relevant > 100  # the topics are not trivially empty


@pytest.mark.parametrize("name", POOLS)
def test_ranking_some_papers_is_the_whole_ranking_without_the_others(name):
    index = RankingIndex(POOLS[name])
    n, rng = len(index), random.Random(name)
    cuts = [range(0), range(n), range(n // 2, n), range(3, 4), [0, n - 1]]
    cuts += [sorted(rng.sample(range(n), rng.randint(1, n))) for _ in range(5)]
    for topic in topics_for(name)[::3]:
        whole = rank_topic(topic, index, NOW)
        for cut in cuts:
            keys = {index.papers[i].key for i in cut}
            expected = [r for r in whole if r.key in keys]
            assert rank_topic(topic, index, NOW, among=cut) == expected


def test_the_order_papers_are_indexed_in_changes_no_ranking():
    papers = unique(POOLS["synthetic-1"])
    index = RankingIndex(papers)
    shuffled = RankingIndex(random.Random(1).sample(papers, len(papers)))
    for topic in topics_for("synthetic-1"):
        assert rank_topic(topic, index, NOW) == rank_topic(topic, shuffled, NOW)


@pytest.mark.parametrize("name", ["samples", "synthetic-2"])
def test_the_planner_ranks_custom_interests_over_a_subscriber_s_possible_candidates(name):
    pool = unique(POOLS[name])
    planner, rng = Planner(pool, NOW), random.Random(name)
    by_key = {p.key: p for p in pool}
    for n in range(30):
        topic = random_topic(rng, pool)
        prefs = Preferences(
            topics=[TopicChoice("computer-vision")],
            keywords=list(topic.keywords),
            categories=list(topic.categories),
            authors=list(topic.authors),
        )
        subscriber = Subscriber(n, f"r{n}@example.org", "active", prefs, NOW)
        previous = rng.choice([None, NOW - timedelta(hours=rng.uniform(0, 120))])
        rankings = planner.rankings_for(subscriber)
        narrowed = planner._narrowed(rankings, previous)
        for slug, ranking in rankings.items():
            whole = list(ranking)
            cut = ByArrival(whole, [by_key[r.key] for r in whole])
            expected = cut.could_be_candidates(previous_claim=previous, now=NOW)
            assert narrowed[slug] == expected, (slug, previous)


def test_a_cut_made_again_is_the_same_list():
    papers = unique(POOLS["synthetic-0"])
    arrivals = ByArrival(papers, papers)
    claim = NOW - timedelta(hours=30)
    first = arrivals.could_be_candidates(previous_claim=claim, now=NOW)
    again = arrivals.could_be_candidates(previous_claim=claim + timedelta(seconds=1), now=NOW)
    fresh = ByArrival(papers, papers).could_be_candidates(previous_claim=claim, now=NOW)
    assert first is again and first == fresh
    assert 0 < len(first) < len(papers)


def test_words_are_stemmed_as_written_whatever_was_stemmed_before():
    assert stems("LLMs llms Models models") == ("llm", "llms", "model", "model")
    assert stems("The LLMs") == ("llm",) and analyse("llms LLMs") == ("llms", "llm")


def test_text_is_split_into_words_as_the_unicode_pattern_splits_it():
    rng = random.Random(7)
    alphabet = "aZ09_-' .,;:()[]/\\\t\n\x1c\x1f\x7f+=$%&*!?\"`~^|@#<>{}"
    texts = ["", "LLMs, don't re-rank: 3D-GS_v2 (x86)!", "__init__ a_b", "\x00tab\tend"]
    texts += ["".join(rng.choices(alphabet, k=rng.randint(1, 60))) for _ in range(500)]
    texts += ["Schrödinger’s naïve café—Ωmega_x ²"]
    texts += [p.title or "" for p in POOLS["samples"]] + [
        p.abstract or "" for p in POOLS["samples"]
    ]
    assert sum(t.isascii() for t in texts) > 500 and not all(t.isascii() for t in texts)
    for text in texts:
        folded = unicodedata.normalize("NFKD", text)
        folded = "".join(c for c in folded if not unicodedata.combining(c))
        assert words(text) == re.findall(r"[^\W_]+", folded), text


def shared_term_topics(rng: random.Random, papers: list[Paper]) -> list[Topic]:
    """Custom interests (and topics without generic terms) drawing on a few
    words, so that many share a term, with varied labels, other evidence and
    gates."""
    words = sorted({w for p in rng.sample(papers, 12) for w in (p.title or "").split()})
    words = rng.sample(words, min(len(words), 8)) + ["model", "data data"]
    authors = sorted({a for p in papers for a in p.authors}) + ["A. Li"]
    categories = sorted({c for p in papers for c in p.categories})
    topics = []
    for _ in range(25):
        keywords = rng.sample(words, rng.randint(1, 3))
        keywords = [k.upper() if rng.random() < 0.2 else k for k in keywords]  # another label
        custom = rng.random() < 0.8
        topics.append(
            Topic(
                slug=INTERESTS_SLUG if custom else "random",
                name="Shared",
                keywords=tuple(keywords),
                related=() if custom else tuple(rng.sample(words, 1)),
                categories=tuple(rng.sample(categories, rng.choice([0, 0, 1]))),
                authors=tuple(rng.sample(authors, rng.choice([0, 0, 1]))),
                min_relevance=rng.choice([0.15, 0.15, 0.3, 0.75, 1e-9]),
            )
        )
    return topics


@pytest.mark.parametrize("name", POOLS)
@pytest.mark.parametrize("kept", [_Alone.MAX, 7])
def test_papers_matched_by_one_shared_term_rank_as_for_that_topic_alone(name, kept):
    """Topics sharing a term share the ranked papers matched by it alone (made
    once per index); each ranking is the one a fresh index gives, however many
    were kept."""
    pool = unique(POOLS[name])
    index, rng = RankingIndex(pool), random.Random(name)
    alone = _Alone()
    alone.MAX = kept
    assert index.derived(("alone", NOW), lambda: alone) is alone
    n = len(index)
    cuts = [None, range(n), range(n // 2, n), sorted(rng.sample(range(n), n // 3))]
    shared = 0
    for topic in shared_term_topics(rng, pool):
        for cut in rng.sample(cuts, 2):
            ranked = rank_topic(topic, index, NOW, among=cut)
            assert ranked == rank_topic(topic, RankingIndex(pool), NOW, among=cut), topic
            shared += sum(1 for r in ranked if "·" not in r.reason)
    assert shared > 50  # papers matched by one term alone were ranked
    assert alone._count > 0 or kept < _Alone.MAX  # and kept
