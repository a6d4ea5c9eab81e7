"""Composing one subscriber's digest from the shared per-topic rankings."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

from digest.compose import TRENDING_TITLE, compose_digest
from digest.digests import TRENDING_SLUG
from digest.papers import Paper
from digest.preferences import Preferences, TopicChoice
from digest.ranking import RankingIndex, rank_topic
from digest.topics import custom_topic, load_catalog

NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)


def paper(key, title, abstract, categories=(), upvotes=None, authors=()) -> Paper:
    return Paper(
        key=key,
        title=title,
        abstract=abstract,
        categories=list(categories),
        upvotes=upvotes,
        authors=list(authors),
        trending_at=NOW if upvotes else None,
    )


SEG = paper(
    "2611.10001",
    "Boundary-Aware Transformers for Real-Time Semantic Segmentation",
    "Semantic segmentation of urban street scenes requires accurate boundaries. We propose a"
    " boundary-aware vision transformer with a lightweight decoder that improves mIoU on"
    " Cityscapes while running in real time.",
    ["cs.CV"],
    upvotes=25,
)
DETECT = paper(
    "2611.10002",
    "Open-Vocabulary Object Detection with Region-Text Pretraining",
    "Object detection beyond a fixed label set needs region features aligned with text."
    " We pretrain a detector on image-text pairs and detect unseen categories on LVIS.",
    ["cs.CV"],
    upvotes=4,
)
DEPTH = paper(
    "2611.10003",
    "Self-Supervised Monocular Depth Estimation in Dynamic Scenes",
    "Depth estimation from a single camera fails on moving objects. We model object motion"
    " explicitly and train from unlabelled videos, improving depth on KITTI.",
    ["cs.CV"],
)
MT = paper(
    "2611.10004",
    "Low-Resource Machine Translation with Monolingual Data Augmentation",
    "Neural machine translation for low-resource languages lacks parallel text. We generate"
    " synthetic sentence pairs by back-translation of monolingual corpora and improve BLEU"
    " on ten language pairs.",
    ["cs.CL"],
    upvotes=12,
)
CHARTS = paper(  # vision-language: relevant to both computer vision and NLP
    "2611.10005",
    "A Vision-Language Model for Chart Question Answering",
    "Charts combine images and text. We train a vision-language model that reads chart"
    " images and answers natural language questions, with a new question answering benchmark.",
    ["cs.CV", "cs.CL"],
    upvotes=3,
)
OPTIM = paper(  # popular but about neither topic
    "2611.10006",
    "Convergence Rates of Adaptive Gradient Methods under Heavy-Tailed Noise",
    "We prove high-probability convergence rates for adaptive gradient methods when the"
    " stochastic gradients have heavy-tailed noise, with matching minimax lower bounds.",
    ["math.OC", "stat.ML"],
    upvotes=90,
)
GRASP = paper(  # a robotics paper cross-listed to cs.CV
    "2611.10007",
    "Learning Dexterous Grasping from Egocentric Human Videos",
    "We teach a robot hand to grasp objects by watching egocentric videos of people. Hand"
    " poses estimated from video supervise a visuomotor policy for a real robot arm.",
    ["cs.RO", "cs.CV"],
    upvotes=7,
    authors=["Alice B. Martin", "Chen Li"],
)
LLM = paper(
    "2611.10008",
    "Scaling Instruction Tuning for Large Language Models",
    "Instruction tuning aligns large language models with user intent. We study how the"
    " number of tasks and model size interact and release an instruction dataset.",
    ["cs.CL"],
    upvotes=50,
)
POOL = [SEG, DETECT, DEPTH, MT, CHARTS, OPTIM, GRASP, LLM]


def rankings(prefs: Preferences, pool=POOL) -> dict:
    """What the pipeline does: shared topic rankings plus the subscriber's interests."""
    index = RankingIndex(pool)
    catalog = load_catalog()
    ranked = {slug: rank_topic(catalog[slug], index, NOW) for slug in ("computer-vision", "nlp")}
    interests = custom_topic(prefs)
    if interests:
        ranked[interests.slug] = rank_topic(interests, index, NOW)
    return ranked


def compose(prefs: Preferences, pool=POOL, candidates=None, **kw):
    candidates = {p.key: p for p in (pool if candidates is None else candidates)}
    return compose_digest(
        prefs,
        rankings(prefs, pool),
        candidates,
        period="2026-11-20",
        edition_date=date(2026, 11, 20),
        frequency="daily",
        **kw,
    )


def shown(digest) -> dict[str, list[str]]:
    return {s.slug: [e.paper.key for e in s.entries] for s in digest.sections}


def prefs(*topics: str, **kw) -> Preferences:
    return Preferences(topics=[TopicChoice(t) for t in topics], **kw)


def test_it_lists_topics_in_the_subscriber_order_with_reasons():
    digest = compose(prefs("nlp", "computer-vision"), trending_count=0)
    assert [s.slug for s in digest.sections] == ["nlp", "computer-vision"]
    assert [s.title for s in digest.sections] == ["Natural Language Processing", "Computer Vision"]
    first = digest.sections[1].entries[0]
    assert first.paper.key == SEG.key
    assert first.reason.startswith("cs.CV · matched: ")


def test_a_paper_matching_two_topics_appears_once():
    digest = compose(prefs("computer-vision", "nlp"), trending_count=0)
    keys = [p.key for p in digest.papers]
    assert keys.count(CHARTS.key) == 1
    assert len(keys) == len(set(keys))


def test_it_never_fills_with_off_topic_papers_and_drops_empty_sections():
    digest = compose(prefs("computer-vision", "nlp"), pool=[SEG, OPTIM])
    assert OPTIM.key not in [p.key for p in digest.papers]
    assert all(s.entries for s in digest.sections)
    assert "nlp" not in shown(digest)


def test_an_edition_with_nothing_relevant_is_empty():
    digest = compose(prefs("computer-vision"), pool=[OPTIM])
    assert digest.sections == [] and digest.paper_count == 0


def test_only_candidates_appear():
    digest = compose(prefs("computer-vision"), candidates=[DETECT, DEPTH, OPTIM])
    assert {p.key for p in digest.papers} == {DETECT.key, DEPTH.key}


def test_muted_keywords_exclude_a_paper_everywhere():
    digest = compose(prefs("computer-vision", "nlp", mute=["instruction tuning", "depth"]))
    keys = {p.key for p in digest.papers}
    assert LLM.key not in keys and DEPTH.key not in keys
    assert MT.key in keys


def test_per_topic_max_papers_and_min_upvotes():
    choice = [TopicChoice("computer-vision", max_papers=2), TopicChoice("nlp", min_upvotes=20)]
    digest = compose(Preferences(topics=choice), trending_count=0)
    assert len(shown(digest)["computer-vision"]) == 2
    assert shown(digest)["nlp"] == [LLM.key]


def test_global_min_upvotes_and_max_papers():
    digest = compose(prefs("computer-vision", "nlp", min_upvotes=10), trending_count=0)
    assert {p.key for p in digest.papers} == {SEG.key, MT.key, LLM.key}
    capped = compose(prefs("computer-vision", "nlp", max_papers=3), trending_count=1)
    assert capped.paper_count == 3
    # The cap is shared: each topic keeps its best paper rather than one topic taking all.
    assert [s.slug for s in capped.sections] == [TRENDING_SLUG, "computer-vision", "nlp"]


def test_cross_lists_off_drops_papers_only_cross_listed_into_the_topic():
    assert GRASP.key in {p.key for p in compose(prefs("computer-vision")).papers}
    digest = compose(prefs("computer-vision", cross_lists=False))
    keys = {p.key for p in digest.papers}
    assert GRASP.key not in keys
    assert CHARTS.key in keys  # primary cs.CV


def test_trending_opens_with_the_most_upvoted_relevant_candidates():
    digest = compose(prefs("computer-vision", "nlp"), trending_count=2)
    trending = digest.sections[0]
    assert (trending.slug, trending.title) == (TRENDING_SLUG, TRENDING_TITLE)
    # OPTIM has the most upvotes but is relevant to neither topic.
    assert [e.paper.key for e in trending.entries] == [LLM.key, SEG.key]
    assert trending.entries[0].reason.startswith("Natural Language Processing · cs.CL")
    below = [p.key for s in digest.sections[1:] for p in (e.paper for e in s.entries)]
    assert LLM.key not in below and SEG.key not in below


def test_trending_needs_upvotes():
    digest = compose(prefs("computer-vision"), pool=[DEPTH])
    assert [s.slug for s in digest.sections] == ["computer-vision"]


def test_interests_section_for_keywords_and_authors():
    p = prefs("nlp", keywords=["depth estimation"], authors=["A. Martin"])
    digest = compose(p, trending_count=0)
    assert digest.sections[-1].slug == "interests"
    assert digest.sections[-1].title == "Your interests"
    assert set(shown(digest)["interests"]) == {DEPTH.key, GRASP.key}
    reasons = {e.paper.key: e.reason for e in digest.sections[-1].entries}
    assert reasons[GRASP.key] == "author: Alice B. Martin"


def test_it_is_deterministic():
    p = prefs("computer-vision", "nlp", max_papers=5)
    a = compose(p)
    b = compose(p, pool=list(reversed(POOL)))
    assert a.rendering_key() == b.rendering_key()
    # Two subscribers with the same choices get the same digest.
    other = replace(p, timezone="Asia/Tokyo", hour=9)
    assert compose(other).rendering_key() == a.rendering_key()
