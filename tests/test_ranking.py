"""Topic catalog and ranking: relevance gate, reasons, categories, trend, order."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from digest.papers import Paper
from digest.preferences import Preferences, TopicChoice
from digest.ranking import RankingIndex, rank_topic, rank_topics, trend_score
from digest.textmatch import mentions, name_parts, same_author
from digest.topics import (
    INTERESTS_SLUG,
    Topic,
    UnknownTopicError,
    custom_topic,
    get_topic,
    load_catalog,
    parse_catalog,
)

NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)
REQUIRED = (
    "computer-vision", "nlp", "large-language-models", "speech-audio", "reinforcement-learning",
    "robotics", "graph-learning", "medical-health", "security-robustness", "efficient-ml",
    "theory", "generative-models", "interpretability", "ml-for-science", "multimodal",
    "ai-safety-alignment", "information-retrieval", "time-series", "datasets-benchmarks",
    "quantum-computing",
)  # fmt: skip


def paper(key: str, title: str, abstract: str, categories=(), **kw) -> Paper:
    return Paper(key=key, title=title, abstract=abstract, categories=list(categories), **kw)


SEGMENTATION = paper(
    "2611.00001",
    "Boundary-Aware Transformers for Real-Time Semantic Segmentation",
    "Semantic segmentation of urban street scenes requires accurate boundaries at high frame"
    " rates. We propose a boundary-aware vision transformer that refines pixel-level"
    " predictions with a lightweight decoder. On Cityscapes and ADE20K our model improves"
    " mIoU while running in real time on a single GPU.",
    ["cs.CV"],
)
GNN = paper(
    "2611.00002",
    "Over-Squashing in Message Passing Graph Neural Networks",
    "Message passing graph neural networks struggle to propagate information between distant"
    " nodes. We analyse over-squashing through the curvature of the graph and propose a"
    " rewiring method that improves node classification on heterophilous benchmarks.",
    ["cs.LG", "stat.ML"],
)
CONVERGENCE = paper(
    "2611.00003",
    "Convergence Rates of Adaptive Gradient Methods under Heavy-Tailed Noise",
    "We prove high-probability convergence rates for adaptive gradient methods when the"
    " stochastic gradients have heavy-tailed noise. Our lower bounds show the rates are"
    " minimax optimal, and the analysis extends to non-convex objectives.",
    ["math.OC", "stat.ML"],
)
GRASPING = paper(
    "2611.00004",
    "Learning Dexterous Grasping from Egocentric Human Videos",
    "We teach a robot hand to grasp household objects by watching egocentric videos of"
    " people. Hand poses estimated from the video supervise a visuomotor policy that"
    " transfers to a real robot arm without teleoperation.",
    ["cs.RO", "cs.CV"],
)
UNLISTED = paper(  # seen on Hugging Face only: no categories
    "2611.00005",
    "Scalable Diffusion Transformers for High-Resolution Image Generation",
    "Diffusion models built on transformers generate high-resolution images. We scale a"
    " latent diffusion transformer to 8B parameters and show that image generation"
    " quality, measured by FID, improves steadily with compute.",
)
POOL = [SEGMENTATION, GNN, CONVERGENCE, GRASPING, UNLISTED]


def keys(ranked) -> list[str]:
    return [r.key for r in ranked]


def test_it_ships_every_required_topic_with_categories_and_keywords():
    catalog = load_catalog()
    assert set(REQUIRED) <= set(catalog)
    for slug, topic in catalog.items():
        assert topic.slug == slug and topic.name and topic.description
        assert topic.all_categories, slug
        assert topic.keywords, slug


def test_it_names_the_valid_slugs_for_an_unknown_one():
    with pytest.raises(UnknownTopicError) as error:
        get_topic("computer-visoin")
    assert "computer-visoin" in str(error.value)
    assert "computer-vision" in str(error.value) and "nlp" in str(error.value)
    assert isinstance(error.value, ValueError)


def test_it_rejects_a_catalog_entry_without_keywords():
    with pytest.raises(ValueError, match="keywords"):
        parse_catalog('[topics.empty]\nname = "Empty"\ncategories = ["cs.CV"]\n')


def test_it_ranks_a_topic_paper_with_its_category_and_matched_keywords():
    ranked = rank_topic(get_topic("computer-vision"), POOL, NOW)
    first = ranked[0]
    assert first.key == SEGMENTATION.key
    assert first.via == "primary"
    assert first.reason.startswith("cs.CV · matched: ")
    assert "semantic segmentation" in first.reason


def test_it_finds_uncategorised_papers_by_their_text():
    ranked = rank_topic(get_topic("generative-models"), POOL, NOW)
    assert keys(ranked) == [UNLISTED.key]
    assert ranked[0].reason.startswith("matched: ")
    assert ranked[0].via == "text"


def test_it_never_lets_an_off_topic_paper_through_the_gate():
    # Only one paper is about graphs; the others are not "less relevant", they are out.
    assert keys(rank_topic(get_topic("graph-learning"), POOL, NOW)) == [GNN.key]
    assert CONVERGENCE.key not in keys(rank_topic(get_topic("computer-vision"), POOL, NOW))
    assert rank_topic(get_topic("quantum-computing"), POOL, NOW) == []


def test_a_primary_category_counts_more_than_a_cross_list():
    cross = replace(SEGMENTATION, key="2611.00010", categories=["cs.RO", "cs.CV"])
    ranking = rank_topic(get_topic("computer-vision"), [SEGMENTATION, cross], NOW)
    ranked = {r.key: r for r in ranking}
    assert ranked[SEGMENTATION.key].relevance > ranked[cross.key].relevance
    assert ranked[cross.key].via == "cross"
    assert ranked[cross.key].reason.startswith("cs.CV (cross-list) · ")


def test_a_primary_home_category_alone_makes_a_paper_relevant():
    terse = paper("2611.00011", "A Note", "We report results.", ["cs.CV"])
    assert keys(rank_topic(get_topic("computer-vision"), [terse], NOW)) == [terse.key]


def test_title_matches_weigh_more_than_abstract_matches():
    topic = Topic("t", "T", keywords=("pruning",), min_relevance=0.0)
    filler = " ".join(["results"] * 30)
    in_title = paper("a", "Pruning at Scale", f"We study networks. {filler}")
    in_abstract = paper("b", "Networks at Scale", f"We study pruning. {filler}")
    ranked = {r.key: r.relevance for r in rank_topic(topic, [in_title, in_abstract], NOW)}
    assert ranked["a"] > ranked["b"] > 0


def test_multi_word_keywords_match_only_as_phrases_and_words_are_stemmed():
    topic = Topic("t", "T", keywords=("object detection",), min_relevance=0.0)
    phrase = paper("a", "Detecting Objects", "Object detection in aerial images.")
    apart = paper("b", "Detection", "The object of this work is anomaly detection.")
    stemmed = paper("c", "Segmenting Images", "We segment images.")
    assert keys(rank_topic(topic, [phrase, apart], NOW)) == ["a"]
    seg = Topic("s", "S", keywords=("segmentation",), min_relevance=0.0)
    assert keys(rank_topic(seg, [stemmed], NOW)) == ["c"]


def test_trend_decays_with_the_age_of_the_listing():
    fresh = replace(UNLISTED, upvotes=40, trending_at=NOW - timedelta(hours=6))
    stale = replace(fresh, trending_at=NOW - timedelta(days=6))
    assert trend_score(fresh, NOW) > trend_score(stale, NOW) * 3 > 0
    assert trend_score(replace(fresh, upvotes=None), NOW) == 0


def test_trending_lifts_a_paper_among_equally_relevant_ones():
    quiet = replace(SEGMENTATION, key="2611.00020")
    loud = replace(SEGMENTATION, key="2611.00021", upvotes=120, trending_at=NOW)
    assert keys(rank_topic(get_topic("computer-vision"), [quiet, loud], NOW)) == [
        loud.key,
        quiet.key,
    ]


def test_order_is_deterministic_with_ties_broken_by_key():
    twins = [replace(SEGMENTATION, key=k) for k in ("2611.00033", "2611.00031", "2611.00032")]
    topic = get_topic("computer-vision")
    assert keys(rank_topic(topic, twins, NOW)) == ["2611.00031", "2611.00032", "2611.00033"]
    assert rank_topic(topic, twins, NOW) == rank_topic(topic, list(reversed(twins)), NOW)


def test_one_index_serves_every_topic_with_the_same_result():
    index = RankingIndex(POOL)
    catalog = load_catalog()
    together = rank_topics(catalog.values(), index, NOW)
    assert together["computer-vision"] == rank_topic(catalog["computer-vision"], POOL, NOW)
    assert set(together) == set(catalog)


def test_custom_interests_are_a_topic_only_when_set():
    assert custom_topic(Preferences(topics=[TopicChoice("nlp")])) is None
    topic = custom_topic(Preferences(keywords=["message passing"], categories=["cs.RO"]))
    assert topic is not None and topic.slug == INTERESTS_SLUG and topic.name == "Your interests"
    ranked = {r.key: r for r in rank_topic(topic, POOL, NOW)}
    assert set(ranked) == {GNN.key, GRASPING.key}
    assert "matched: message passing" in ranked[GNN.key].reason
    assert ranked[GRASPING.key].reason.startswith("cs.RO")


def test_followed_authors_match_initials_and_accents():
    authored = replace(GNN, authors=["Chen Li", "José Álvarez-Núñez", "Alice B. Martin"])
    prefs = Preferences(authors=["A. Martin"])
    ranked = rank_topic(custom_topic(prefs), [authored, CONVERGENCE], NOW)
    assert keys(ranked) == [GNN.key]
    assert ranked[0].reason == "author: Alice B. Martin"
    assert same_author(name_parts("Jose Alvarez-Nunez"), name_parts("José Álvarez-Núñez"))
    assert same_author(name_parts("Martin, Alice"), name_parts("Alice Martin"))
    assert not same_author(name_parts("Bob Martin"), name_parts("Alice Martin"))


def test_muted_words_match_stems_and_phrases():
    assert mentions(GNN, ["graph neural network", "survey"]) == ["graph neural network"]
    assert mentions(CONVERGENCE, ["heavy tail"]) == ["heavy tail"]  # "heavy-tailed"
    assert mentions(CONVERGENCE, ["gradient noise"]) == []
