import dataclasses
from datetime import UTC, datetime, timedelta

from digest.merge import is_available, merge
from digest.papers import Paper
from digest.store.papers import candidate_papers, get_papers, upsert_papers

DAY1 = datetime(2026, 11, 19, 5, 0, tzinfo=UTC)
DAY3 = DAY1 + timedelta(days=2)


def rss_item(version=1, announce="new", title="Sparse Mixtures", when=DAY1):
    return Paper(
        key="2611.14001",
        arxiv_id="2611.14001",
        version=version,
        title=title,
        abstract=f"Abstract v{version}.",
        authors=["Ada Lovelace", "Alan Turing"],
        categories=["cs.LG", "stat.ML"],
        primary_category="cs.LG",
        available_at=when,
        updated_at=when,
        announce_type=announce,
        abs_url="https://arxiv.org/abs/2611.14001",
        sources=["arxiv"],
    )


def hf_item(upvotes=12, trending=DAY3):
    return Paper(
        key="2611.14001",
        arxiv_id="2611.14001",
        title="Sparse Mixtures",
        abstract="HF summary of the abstract.",
        authors=["Ada Lovelace"],
        upvotes=upvotes,
        comments=3,
        ai_summary="A short summary.",
        hf_url="https://huggingface.co/papers/2611.14001",
        trending_at=trending,
        sources=["hf"],
    )


def test_it_merges_versions_and_sources_into_one_record():
    first, _ = merge(None, rss_item(), DAY1)
    second, changed = merge(
        first,
        rss_item(2, "replace", "Sparse Mixtures v2", DAY1 + timedelta(days=1)),
        DAY1 + timedelta(days=1),
    )
    third, _ = merge(second, hf_item(), DAY3)
    assert changed
    assert third.version == 2
    assert third.title == "Sparse Mixtures v2"
    assert third.abstract == "Abstract v2."  # the newest version's text, not HF's
    assert third.authors == ["Ada Lovelace", "Alan Turing"]
    assert third.upvotes == 12 and third.comments == 3
    assert third.sources == ["arxiv", "hf"]
    assert third.available_at == DAY1  # the first announcement stands
    assert third.updated_at == DAY1 + timedelta(days=1)
    assert third.trending_at == DAY3 and third.trending_seen_at == DAY3
    assert third.first_seen_at == DAY1


def test_it_never_erases_fields_a_source_lacks():
    record, _ = merge(None, hf_item(), DAY3)
    later = hf_item(upvotes=40)
    later.ai_summary = None
    later.hf_url = None
    merged, _ = merge(record, later, DAY3)
    assert merged.upvotes == 40
    assert merged.ai_summary == "A short summary."
    assert merged.hf_url == "https://huggingface.co/papers/2611.14001"


def test_it_keeps_a_replacement_of_an_unseen_paper_unavailable():
    record, _ = merge(None, rss_item(3, "replace"), DAY1)
    assert record.available_at is None and not is_available(record)
    again, _ = merge(record, rss_item(3, "replace"), DAY1 + timedelta(hours=1))
    assert not is_available(again)


def test_it_takes_the_hf_listing_as_availability_when_arxiv_never_announced_it():
    record, _ = merge(None, hf_item(), DAY3)
    assert record.available_at == DAY3


def test_it_reports_no_change_on_identical_data():
    record, _ = merge(None, rss_item(), DAY1)
    again, changed = merge(record, rss_item(), DAY1 + timedelta(hours=2))
    assert not changed and again.changed_at == DAY1


def test_it_moves_trending_seen_for_a_later_listing_or_more_upvotes():
    record, _ = merge(None, hf_item(upvotes=12, trending=DAY1), DAY1)
    same, _ = merge(record, hf_item(upvotes=12, trending=DAY1), DAY1 + timedelta(hours=1))
    assert same.trending_seen_at == DAY1
    fewer, _ = merge(same, hf_item(upvotes=11, trending=DAY1), DAY1 + timedelta(hours=2))
    assert fewer.trending_seen_at == DAY1
    rose, _ = merge(fewer, hf_item(upvotes=20, trending=DAY1), DAY1 + timedelta(hours=5))
    assert rose.trending_seen_at == DAY1 + timedelta(hours=5)
    later, _ = merge(rose, hf_item(upvotes=30, trending=DAY3), DAY3)
    assert later.trending_seen_at == DAY3


def test_upvotes_alone_never_make_an_arxiv_only_paper_trending():
    record, _ = merge(None, rss_item(), DAY1)
    counted, _ = merge(
        record, dataclasses.replace(rss_item(), upvotes=5), DAY1 + timedelta(hours=1)
    )
    assert counted.trending_seen_at is None


def test_it_stores_the_merge_on_each_backend(engine):
    with engine.begin() as conn:
        assert upsert_papers(conn, [rss_item()], DAY1) == (1, 0)
    with engine.begin() as conn:
        assert upsert_papers(conn, [rss_item()], DAY1) == (0, 0)
        assert upsert_papers(conn, [rss_item(2, "replace")], DAY1 + timedelta(days=1)) == (0, 1)
        assert upsert_papers(conn, [hf_item()], DAY3) == (0, 1)
    with engine.begin() as conn:
        stored = get_papers(conn, ["2611.14001"])["2611.14001"]
    assert stored.version == 2 and stored.upvotes == 12
    assert stored.sources == ["arxiv", "hf"]
    assert stored.available_at == DAY1 and stored.trending_at == DAY3
    assert stored.authors == ["Ada Lovelace", "Alan Turing"]


def test_it_finds_candidates_by_our_clock_and_their_date(engine):
    with engine.begin() as conn:
        upsert_papers(conn, [rss_item()], DAY1)
        upsert_papers(
            conn,
            [
                rss_item(1, "replace").__class__(
                    key="2609.00001",
                    title="Old",
                    available_at=None,
                    announce_type="replace",
                    updated_at=DAY1,
                )
            ],
            DAY1,
        )
    with engine.begin() as conn:
        found = candidate_papers(
            conn,
            seen_after=DAY1 - timedelta(hours=1),
            dated_after=DAY1 - timedelta(days=2),
            published_after=DAY1 - timedelta(days=365),
        )
        assert [p.key for p in found] == ["2611.14001"]
        assert not candidate_papers(
            conn,
            seen_after=DAY1,
            dated_after=DAY1 - timedelta(days=2),
            published_after=DAY1 - timedelta(days=365),
        )
