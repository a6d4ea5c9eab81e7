import json

from tests.cli_helpers import run_digest

DESIGN_SLUGS = {
    "computer-vision", "nlp", "large-language-models", "speech-audio", "reinforcement-learning",
    "robotics", "graph-learning", "medical-health", "security-robustness", "efficient-ml",
    "theory", "generative-models", "interpretability", "ml-for-science", "multimodal",
    "ai-safety-alignment", "information-retrieval", "time-series", "datasets-benchmarks",
    "quantum-computing",
}  # fmt: skip


def test_it_lists_every_design_topic_as_json():
    result = run_digest(["topics", "list", "--json"], {})
    assert result.exit_code == 0, result.stderr
    topics = {t["slug"]: t for t in json.loads(result.stdout)}
    assert set(topics) >= DESIGN_SLUGS
    for topic in topics.values():
        assert topic["name"] and topic["description"] and topic["keywords"]
        assert topic["categories"] or topic["related_categories"]


def test_it_lists_topics_as_a_table():
    result = run_digest(["topics", "list"], {})
    assert result.exit_code == 0 and "computer-vision" in result.stdout
