"""`digest copy-db`: a populated database moves to another (SQLite -> PostgreSQL)
and the copy goes on sending without sending anything twice."""

import logging
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from digest.copy_db import copy_database
from digest.db.engine import open_engine, upgrade
from digest.db.schema import editions, metadata
from digest.store.editions import sent_keys
from digest.store.fetch_state import record_attempt
from digest.store.meta import ensure_secret_key
from digest.store.subscribers import remove_subscriber
from tests.cli_helpers import run_digest
from tests.fresh_db import fresh_database
from tests.pipeline_helpers import (
    DAY1,
    paper_keys_in,
    read_outbox,
    send,
    store,
    subscribe,
    vision_paper,
)

DAY2 = DAY1 + timedelta(days=1)


def digest(*args: str, env: dict | None = None):
    """Run `digest ARGS`. Commands point logging at the runner's stream, closed
    once they return; the library calls that follow must not log into it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return run_digest(list(args), env or {})
    finally:
        root.handlers[:], root.level = handlers, level


@pytest.fixture
def source_url(tmp_path):
    """A SQLite database populated through the real send path."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    engine = open_engine(url)
    upgrade(engine)
    subscribe(engine, "ada@example.org")
    subscribe(engine, "bob@example.org", timezone="Asia/Tokyo", hour=6)
    subscribe(engine, "gone@example.org")
    with engine.begin() as conn:
        remove_subscriber(conn, "gone@example.org", now=DAY1)
        record_attempt(conn, "arxiv", now=DAY1, error=None, report={"fetched": 3, "new": 3})
    store(engine, [vision_paper(n, DAY1) for n in range(3)], DAY1)
    report = send(engine, tmp_path / "outbox-before", DAY1 + timedelta(hours=8))
    assert report.counts["sent"] == 2
    ensure_secret_key(engine)
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def target_url(request, tmp_path):
    """An empty database on which only `digest init` has run."""
    with fresh_database(request.param, tmp_path) as url:
        result = digest("init", env={"DIGEST_DATABASE_URL": url})
        assert result.exit_code == 0, result.stderr
        yield url


def counts(url) -> dict[str, int]:
    engine = open_engine(url)
    with engine.connect() as conn:
        found = {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in metadata.sorted_tables
        }
    engine.dispose()
    return found


def test_it_copies_everything_and_the_copy_sends_nothing_twice(source_url, target_url, tmp_path):
    result = digest("copy-db", "--from", source_url, "--to", target_url)
    assert result.exit_code == 0, result.stderr
    assert "secret key was copied" in result.stdout
    assert counts(target_url) == counts(source_url)
    assert counts(target_url)["digests"] == 1  # Ada and Bob saw the same three papers
    if target_url.startswith("postgresql"):
        # Planner statistics for the copied rows, without waiting for autovacuum.
        engine = open_engine(target_url)
        with engine.connect() as conn:
            analysed = conn.execute(
                text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'editions'")
            ).scalar_one()
        engine.dispose()
        assert analysed is not None

    source, target = open_engine(source_url), open_engine(target_url)
    try:
        assert ensure_secret_key(target) == ensure_secret_key(source)
        # The editions already claimed are not claimed again.
        outbox = tmp_path / "outbox-after"
        assert send(target, outbox, DAY1 + timedelta(hours=9)).line() == "nothing due"
        # Day 2: a paper already sent comes back trending, and one paper is new.
        store(
            target,
            [
                vision_paper(0, DAY2, upvotes=900, trending_at=DAY2, sources=["hf"]),
                vision_paper(3, DAY2),
            ],
            DAY2,
        )
        assert send(target, outbox, DAY2 + timedelta(hours=8)).counts["sent"] == 2
        assert [paper_keys_in(m) for m in read_outbox(outbox)] == [{"2611.14003"}] * 2
        # New rows get new ids: PostgreSQL's sequences were moved past the copied ones.
        assert subscribe(target, "cy@example.org", now=DAY2) not in (1, 2)
        assert send(target, outbox, DAY2 + timedelta(hours=9)).counts["sent"] == 1
        with target.connect() as conn:
            assert conn.execute(select(func.max(editions.c.id))).scalar_one() == 5
            sent = {sid: sent_keys(conn, sid) for sid in (1, 2)}
            assert all(len(keys) == 4 for keys in sent.values()), sent
    finally:
        source.dispose()
        target.dispose()


def test_it_replaces_a_secret_key_the_empty_target_generated(source_url, target_url):
    target = open_engine(target_url)
    generated = ensure_secret_key(target)  # a web process started before the copy
    result = digest("copy-db", "--from", source_url, "--to", target_url)
    assert result.exit_code == 0, result.stderr
    assert ensure_secret_key(target) != generated
    source = open_engine(source_url)
    assert ensure_secret_key(target) == ensure_secret_key(source)
    source.dispose()
    target.dispose()


def test_it_refuses_a_target_that_holds_data(source_url, target_url):
    assert digest("copy-db", "--from", source_url, "--to", target_url).exit_code == 0
    before = counts(target_url)
    result = digest("copy-db", "--from", source_url, "--to", target_url)
    assert result.exit_code == 1
    assert re.fullmatch(
        r"digest: error: --to: the target database is not empty \(table \w+ has rows\); "
        r"copy into a new database on which only `digest init` has run\n",
        result.stderr,
    )
    assert counts(target_url) == before


def test_it_refuses_a_source_whose_schema_is_behind(source_url, target_url):
    engine = open_engine(source_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    engine.dispose()
    result = digest("copy-db", "--from", source_url, "--to", target_url)
    assert result.exit_code == 1
    assert "--from: the database schema is behind" in result.stderr
    assert "run `digest init` to migrate" in result.stderr
    assert sum(counts(target_url).values()) == 0


def test_it_refuses_a_target_without_tables_and_a_missing_source(source_url, tmp_path):
    with fresh_database("sqlite", tmp_path) as bare:
        engine = open_engine(bare)
        engine.connect().close()  # an empty file
        engine.dispose()
        result = digest("copy-db", "--from", source_url, "--to", bare)
    assert result.exit_code == 1
    assert "--to: the database has no tables yet: run `digest init` first" in result.stderr
    missing = f"sqlite:///{tmp_path / 'typo.db'}"
    result = digest("copy-db", "--from", missing, "--to", source_url)
    assert result.exit_code == 1
    assert result.stderr.startswith("digest: error: --from: no SQLite database at ")
    assert not (tmp_path / "typo.db").exists()


def test_it_names_tables_outside_the_schema_and_skips_them(source_url, target_url):
    engine = open_engine(source_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE operator_notes (id TEXT PRIMARY KEY)"))
    engine.dispose()
    result = digest("copy-db", "--from", source_url, "--to", target_url)
    assert result.exit_code == 0, result.stderr
    assert "warning: skipped table operator_notes: not part of digest's schema" in result.stderr


def test_it_copies_back_from_postgresql_in_small_batches(source_url, target_url, tmp_path):
    assert digest("copy-db", "--from", source_url, "--to", target_url).exit_code == 0
    back = f"sqlite:///{tmp_path / 'back.db'}"
    assert digest("init", env={"DIGEST_DATABASE_URL": back}).exit_code == 0
    source, target = open_engine(target_url), open_engine(back)
    try:
        report = copy_database(source, target, batch_size=2)  # several batches per table
    finally:
        source.dispose()
        target.dispose()
    assert report.rows == counts(source_url)
    assert counts(back) == counts(source_url)
