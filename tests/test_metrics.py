"""Prometheus metrics read from the database, checked with the reference parser."""

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from digest.metrics import Family, metrics_text, render
from digest.store.fetch_state import record_attempt
from tests.pipeline_helpers import DAY1, send, store, subscribe, vision_paper


def parse(text: str) -> dict[str, dict[tuple, float]]:
    """name -> {sorted label items: value}, through prometheus_client's parser."""
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            found.setdefault(sample.name, {})[labels] = sample.value
    return found


def test_an_empty_database_has_every_state_at_zero_and_no_last_send(engine):
    with engine.connect() as conn:
        metrics = parse(metrics_text(conn))
    assert metrics["digest_editions"] == {
        (("status", s),): 0
        for s in ("empty", "failed", "pending", "queued", "sending", "sent", "unknown")
    }
    assert set(metrics["digest_subscribers"].values()) == {0}
    assert metrics["digest_papers"] == {(): 0}
    assert "digest_last_send_timestamp_seconds" not in metrics
    assert "digest_source_up" not in metrics
    if engine.dialect.name == "postgresql":  # the send queue: no jobs, no workers
        assert metrics["digest_queue_jobs"] == {
            (("status", s),): 0 for s in ("waiting", "running", "failed")
        }
        assert metrics["digest_queue_workers"] == {(): 0}
    else:
        assert "digest_queue_jobs" not in metrics


def test_it_tells_editions_subscribers_sources_and_the_last_send(engine, tmp_path):
    subscribe(engine, "ada@example.org")
    subscribe(engine, "bob@example.org", topics=[])  # nothing relevant: an empty edition
    store(engine, [vision_paper(n, DAY1) for n in range(3)], DAY1)
    with engine.begin() as conn:
        report = {"fetched": 40, "new": 3, "updated": 2, "skipped": 1, "not_modified": False}
        record_attempt(conn, "arxiv", now=DAY1, error=None, report=report)
        record_attempt(conn, "hf", now=DAY1, error=None, report=report)
        record_attempt(conn, "hf", now=DAY1 + timedelta(hours=1), error="HTTP 503", report={})
    sent_at = DAY1 + timedelta(hours=8)
    assert send(engine, tmp_path / "outbox", sent_at).counts["sent"] == 1

    with engine.connect() as conn:
        metrics = parse(metrics_text(conn))

    assert metrics["digest_editions"][(("status", "sent"),)] == 1
    assert metrics["digest_editions"][(("status", "empty"),)] == 1
    assert metrics["digest_subscribers"][(("status", "active"),)] == 2
    assert metrics["digest_papers"] == {(): 3}
    assert metrics["digest_source_up"] == {(("source", "arxiv"),): 1, (("source", "hf"),): 0}
    success = metrics["digest_source_last_success_timestamp_seconds"]
    assert success == {
        (("source", "arxiv"),): DAY1.timestamp(),
        (("source", "hf"),): DAY1.timestamp(),
    }
    attempt = metrics["digest_source_last_attempt_timestamp_seconds"]
    assert attempt[(("source", "hf"),)] == (DAY1 + timedelta(hours=1)).timestamp()
    items = metrics["digest_source_last_fetch_items"]
    assert items[(("outcome", "new"), ("source", "arxiv"))] == 3
    assert items[(("outcome", "skipped"), ("source", "arxiv"))] == 1
    assert not any(("source", "hf") in labels for labels in items)
    last = metrics["digest_last_send_timestamp_seconds"][()]
    assert last == sent_at.timestamp()


def test_labels_and_help_are_escaped():
    family = Family("digest_x", 'a "help" \\ line\nwith a break')
    family.add(2.5, source='a "b" \\c\nd').add(float("nan"), source="n")
    parsed = list(text_string_to_metric_families(render([family])))
    assert parsed[0].documentation == 'a "help" \\ line\nwith a break'
    first, second = parsed[0].samples
    assert (first.labels, first.value) == ({"source": 'a "b" \\c\nd'}, 2.5)
    assert second.value != second.value  # NaN
