"""The daily housekeeping job, the scheduler lines of `digest status`, and
migration 0005 on a database that already holds data."""

from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, func, insert, inspect, select, text

from digest.db.engine import alembic_config
from digest.db.schema import (
    apscheduler_jobs,
    digests,
    editions,
    fetch_state,
    meta,
    papers,
    subscribers,
)
from digest.jobs import run_housekeeping
from digest.locks import try_lock
from digest.merge import merge
from digest.preferences import Preferences
from digest.send_queue import TASK as QUEUE_TASK
from digest.store.fetch_state import record_attempt
from digest.store.papers import to_row
from digest.store.scheduler import Holder, record_holder
from digest.store.subscribers import add_subscriber
from tests.cli_helpers import run_digest
from tests.pipeline_helpers import claim_edition, vision_paper
from tests.scheduler_helpers import add_active, job_context

NOW = datetime(2026, 11, 29, 4, 0, tzinfo=UTC)


def count(engine, table, *where) -> int:
    with engine.begin() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_housekeeping_prunes_what_is_past_its_use(database_url, engine, tmp_path):
    old = NOW - timedelta(days=400)
    keeper = add_active(engine, "kept@example.org", joined=old)
    quiet = add_active(engine, "quiet@example.org", joined=old)
    with engine.begin() as conn:
        for n, when in enumerate([old, old + timedelta(days=1), NOW - timedelta(days=1)]):
            claim_edition(conn, keeper, f"2025-10-{n + 1:02d}", [f"k{n}"], now=when)
        # A subscriber whose only edition is old keeps it: due() counts from it.
        claim_edition(conn, quiet, "2025-10-01", ["q0"], now=old)
        add_subscriber(
            conn, "late@example.org", Preferences(), status="pending", now=NOW - timedelta(days=8)
        )
        add_subscriber(
            conn, "fresh@example.org", Preferences(), status="pending", now=NOW - timedelta(days=6)
        )
        returning = add_subscriber(
            conn, "back@example.org", Preferences(), status="active", now=NOW - timedelta(days=30)
        )
        conn.execute(
            subscribers.update()
            .where(subscribers.c.id == returning)
            .values(status="pending", unsubscribed_at=NOW - timedelta(days=20))
        )
        for name in ("hf", "removed-source"):
            record_attempt(conn, name, now=NOW, error=None, report={})

    queue = engine.dialect.name == "postgresql"  # send-queue jobs: finished a week ago go
    if queue:
        add_queue_jobs(engine, [("succeeded", 8), ("failed", 8), ("succeeded", 1), ("todo", 8)])

    ctx = job_context(database_url, tmp_path / "outbox")
    counts = run_housekeeping(ctx, NOW)

    pruned = {"editions": 2, "digests": 2, "unconfirmed": 1, "fetch_states": 1}
    assert counts == pruned | ({"queue_jobs": 2} if queue else {})
    if queue:
        with engine.begin() as conn:
            left = conn.execute(text("SELECT status::text FROM procrastinate_jobs ORDER BY id"))
            assert list(left.scalars()) == ["succeeded", "todo"]
    assert count(engine, editions, editions.c.subscriber_id == keeper) == 1
    assert count(engine, editions, editions.c.subscriber_id == quiet) == 1
    assert count(engine, digests) == 2  # the kept editions' (old ones when still pointed at)
    with engine.begin() as conn:
        emails = set(conn.execute(select(subscribers.c.email)).scalars())
        sources = set(conn.execute(select(fetch_state.c.source)).scalars())
    assert emails == {
        "kept@example.org",
        "quiet@example.org",
        "fresh@example.org",
        "back@example.org",
    }
    assert sources == {"hf"}
    assert run_housekeeping(ctx, NOW) == {
        "editions": 0,
        "digests": 0,
        "unconfirmed": 0,
        "fetch_states": 0,
    } | ({"queue_jobs": 0} if queue else {})


def add_queue_jobs(engine, jobs: list[tuple[str, int]]) -> None:
    """Send-queue jobs in `status` whose last event is `age` days before NOW."""
    with engine.begin() as conn:
        for status, age in jobs:
            job_id = conn.execute(
                text(
                    "INSERT INTO procrastinate_jobs (queue_name, task_name, status)"
                    " VALUES ('digest-send', :task, CAST(:status AS procrastinate_job_status))"
                    " RETURNING id"
                ),
                {"task": QUEUE_TASK, "status": status},
            ).scalar_one()
            conn.execute(
                text("DELETE FROM procrastinate_events WHERE job_id = :id"), {"id": job_id}
            )
            conn.execute(
                text(
                    "INSERT INTO procrastinate_events (job_id, type, at) VALUES (:id, 'deferred', :at)"
                ),
                {"at": NOW - timedelta(days=age), "id": job_id},
            )


def test_status_shows_the_scheduler_holder_and_next_runs(database_url, engine):
    env = {"DIGEST_DATABASE_URL": database_url}
    result = run_digest(["status"], env)
    assert result.exit_code == 0
    assert "Scheduler: not running (start it with `digest run`)" in result.stdout

    since = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
    with engine.begin() as conn:
        record_holder(conn, Holder("node-1", 4242, since))
        conn.execute(
            insert(apscheduler_jobs).values(
                id="send", next_run_time=since.timestamp() + 300, job_state=b"x"
            )
        )
    result = run_digest(["status"], env)
    assert (
        "Scheduler: not running (last: node-1 pid 4242 since 2026-11-29 06:00:00 UTC, gone)"
        in result.stdout
    )
    assert "send: next run 2026-11-29 06:05 UTC" in result.stdout

    lock = try_lock(engine, "scheduler")
    try:
        result = run_digest(["status"], env)
        assert "Scheduler: running (node-1 pid 4242 since 2026-11-29 06:00:00 UTC)" in result.stdout
    finally:
        lock.release()


def test_migration_0005_keeps_existing_data(database_url, engine):
    config = alembic_config(engine)
    before = ScriptDirectory.from_config(config).get_revision("0005").down_revision
    command.downgrade(config, before)
    try:
        with engine.begin() as conn:
            assert "apscheduler_jobs" not in inspect(conn).get_table_names()
            conn.execute(insert(meta).values(key="secret_key", value="kept"))
            # The papers table as it was before 0005 (later revisions add columns).
            old_papers = Table("papers", MetaData(), autoload_with=conn)
            paper = merge(None, vision_paper(1, NOW), NOW)[0]
            row = {k: v for k, v in to_row(paper).items() if k in old_papers.c}
            conn.execute(old_papers.insert().values(row))
    finally:
        command.upgrade(config, "head")
    assert count(engine, papers) == 1
    with engine.begin() as conn:
        assert (
            conn.execute(select(meta.c.value).where(meta.c.key == "secret_key")).scalar() == "kept"
        )
        assert "apscheduler_jobs" in inspect(conn).get_table_names()
