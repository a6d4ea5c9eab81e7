"""A paper that passes a subscriber's upvote threshold after their edition was
claimed reaches their next edition (its rising upvotes move trending_seen_at),
and no later one (the sent log)."""

import json
from datetime import UTC, datetime, timedelta

from digest.jobs import run_fetch, run_send_tick
from digest.papers import Paper
from digest.preferences import TopicChoice
from digest.store.papers import get_papers
from tests.fakes.http_server import Reply
from tests.pipeline_helpers import paper_keys_in, read_outbox, store
from tests.scheduler_helpers import add_active, editions_of, job_context

KEY = "2611.14321"


def nlp_paper(when: datetime) -> Paper:
    return Paper(
        key=KEY,
        arxiv_id=KEY,
        version=1,
        title="Instruction Tuning Improves Machine Translation for Low-Resource Languages",
        abstract=(
            "We study machine translation and multilingual language models for natural "
            "language processing in low-resource languages, with instruction tuning, "
            "parsing and named entity recognition benchmarks."
        ),
        authors=["Ada Lovelace"],
        categories=["cs.CL"],
        primary_category="cs.CL",
        available_at=when,
        updated_at=when,
        announce_type="new",
        abs_url=f"https://arxiv.org/abs/{KEY}",
        sources=["arxiv"],
    )


def hf_list(upvotes: int, listed: datetime) -> bytes:
    item = {
        "paper": {
            "id": KEY,
            "title": "Instruction Tuning Improves Machine Translation for Low-Resource Languages",
            "summary": "We study machine translation for low-resource languages.",
            "authors": [{"name": "Ada Lovelace"}],
            "publishedAt": listed.isoformat().replace("+00:00", "Z"),
            "submittedOnDailyAt": listed.isoformat().replace("+00:00", "Z"),
            "upvotes": upvotes,
        },
        "numComments": 0,
    }
    return json.dumps([item]).encode()


def test_a_paper_passing_the_threshold_after_the_claim_comes_in_the_next_edition_only(
    database_url, engine, tmp_path, server
):
    # Times ahead of the wall clock: a fetch stamps papers with max(now, wall clock).
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=3)
    config = tmp_path / "digest.toml"
    config.write_text(
        f'[[sources]]\nname = "hf"\nkind = "hf-daily"\nurl = "{server.url("/api/daily_papers")}"\n'
    )
    listed = day + timedelta(hours=6)
    server.script(
        "/api/daily_papers",
        Reply(200, hf_list(3, listed)),
        Reply(200, hf_list(12, listed)),
        Reply(200, hf_list(20, listed)),
    )
    ctx = job_context(database_url, tmp_path / "outbox", config=config)
    add_active(
        engine,
        "ada@example.org",
        joined=day - timedelta(days=3),
        topics=[TopicChoice("nlp", 5, 10)],
        timezone="UTC",
        hour=9,
    )
    store(engine, [nlp_paper(day + timedelta(hours=5))], day + timedelta(hours=5))

    assert not run_fetch(ctx, "hf", day + timedelta(hours=8, minutes=5)).error  # 3 upvotes
    first = run_send_tick(ctx, day + timedelta(hours=9))
    assert first.counts["empty"] == 1  # 3 < 10: nothing for this subscriber yet
    assert not run_fetch(ctx, "hf", day + timedelta(hours=10, minutes=5)).error  # 12 upvotes
    with engine.begin() as conn:
        paper = get_papers(conn, [KEY])[KEY]
    assert paper.upvotes == 12
    assert paper.trending_seen_at == day + timedelta(hours=10, minutes=5)

    second = run_send_tick(ctx, day + timedelta(days=1, hours=9))
    assert second.counts["sent"] == 1
    [message] = read_outbox(tmp_path / "outbox")
    assert paper_keys_in(message) == {KEY}

    assert not run_fetch(ctx, "hf", day + timedelta(days=1, hours=10, minutes=5)).error  # 20
    third = run_send_tick(ctx, day + timedelta(days=2, hours=9))
    assert third.counts["empty"] == 1 and not third.counts["sent"]
    assert len(read_outbox(tmp_path / "outbox")) == 1
    assert [e["status"] for e in editions_of(engine)] == ["empty", "sent", "empty"]
