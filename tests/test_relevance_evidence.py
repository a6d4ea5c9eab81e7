"""Relevance a reader would not question: generic words (transformer,
generation, text, model, …) never make a paper relevant by themselves, and a
reason names the evidence that did."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources

from digest.papers import Paper
from digest.preferences import Preferences
from digest.ranking import RankingIndex, rank_topic, rank_topics
from digest.sources import arxiv_rss
from digest.textmatch import analyse
from digest.topics import GENERIC_WORDS, custom_topic, get_topic, load_catalog

NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)

# Generic words only (and a broad category): enough to pass the gate of
# large-language-models before generic words stopped counting.
GENERIC_ONLY = Paper(
    key="2611.09001",
    title="Transformer Generation of Tokens: Learning a Model from Data",
    abstract=(
        "We propose a novel method: a transformer network for generation. The model "
        "learns representations from large-scale data, and generation with our "
        "transformer model improves performance. Learning from data with the network, the "
        "model generates tokens; attention in the transformer helps generation of tokens."
    ),
    categories=["cs.LG"],
    primary_category="cs.LG",
)

# The kind of paper the issue saw under Large Language Models: image generation,
# cross-listed to cs.LG, mentioning a KV cache once among generic words.
IMAGE_GENERATION = Paper(
    key="2611.09002",
    title="Scalable Autoregressive Image Generation with Visual Tokenizers",
    abstract=(
        "We present an autoregressive transformer for text-to-image generation. A visual "
        "tokenizer maps images to discrete tokens and the transformer predicts them; a KV "
        "cache speeds up sampling. Our generation model reaches a lower FID than diffusion "
        "models on ImageNet and generates high-fidelity images from text prompts."
    ),
    categories=["cs.CV", "cs.LG"],
    primary_category="cs.CV",
)

LLM_PAPER = Paper(
    key="2611.09003",
    title="Instruction Tuning Large Language Models for Tool Use",
    abstract=(
        "Large language models (LLMs) can call tools. We study instruction tuning and "
        "chain of thought prompting for tool use, and evaluate LLM agents on new tasks."
    ),
    categories=["cs.CL", "cs.AI"],
    primary_category="cs.CL",
)

FILLER = [
    Paper(
        key=f"2611.0{9100 + n}",
        title=f"Filler paper {n} on sparse matrices",
        abstract="We study numerical linear algebra for sparse matrices and graphs.",
    )
    for n in range(20)
]
POOL = [GENERIC_ONLY, IMAGE_GENERATION, LLM_PAPER, *FILLER]


def ranked_keys(slug: str) -> list[str]:
    return [r.key for r in rank_topic(get_topic(slug), POOL, NOW)]


def test_a_paper_matching_only_generic_words_is_relevant_to_no_topic():
    ranked = rank_topics(load_catalog().values(), RankingIndex(POOL), NOW)
    for slug, results in ranked.items():
        assert GENERIC_ONLY.key not in [r.key for r in results], slug


def test_an_image_generation_paper_does_not_land_under_large_language_models():
    assert IMAGE_GENERATION.key not in ranked_keys("large-language-models")
    assert LLM_PAPER.key in ranked_keys("large-language-models")
    generative = {r.key: r for r in rank_topic(get_topic("generative-models"), POOL, NOW)}
    reason = generative[IMAGE_GENERATION.key].reason
    assert "text-to-image" in reason or "image generation" in reason, reason


def matched_terms(reason: str) -> list[str]:
    for part in reason.split(" · "):
        if part.startswith("matched: "):
            return part.removeprefix("matched: ").split(", ")
    return []


def is_generic(term: str) -> bool:
    stems = {stem for word in GENERIC_WORDS for stem in analyse(word)}
    tokens = analyse(term)
    return len(tokens) == 1 and tokens[0] in stems


def test_reasons_on_the_bundled_listings_never_name_generic_words():
    papers = []
    for name in ("arxiv-2026-11-19.xml", "arxiv-2026-11-20.xml"):
        data = resources.files("digest.samples").joinpath(name).read_bytes()
        papers += arxiv_rss.parse(data, "arxiv", NOW)[0]
    ranked = rank_topics(load_catalog().values(), RankingIndex(papers), NOW)
    seen = 0
    for slug, results in ranked.items():
        for r in results:
            seen += 1
            assert r.reason, (slug, r.key)
            assert not any(is_generic(t) for t in matched_terms(r.reason)), (slug, r.reason)
    assert seen > 20


def test_a_subscriber_s_own_generic_keyword_still_counts():
    """They typed it: "transformer" as a custom keyword is what they asked for."""
    topic = custom_topic(Preferences(keywords=["transformer"]))
    ranked = {r.key: r for r in rank_topic(topic, POOL, NOW)}
    assert GENERIC_ONLY.key in ranked
    assert ranked[GENERIC_ONLY.key].reason == "matched: transformer"
