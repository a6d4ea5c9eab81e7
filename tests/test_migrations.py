"""Every Alembic revision, walked one step at a time from 0001 to head on both
databases with data in the tables; then the latest revision down and up again.

Generic over the revisions: a new one is covered as soon as it is in
`digest/db/migrations/versions`. Rows are written after 0001 through the
tables as 0001 built them (reflected, so later columns do not leak in), and
every step must keep them: same primary keys, same values in every column
that still exists under the same name. A revision that moves or rewrites a
column on purpose drops or renames it, and that column leaves the check.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, inspect, select, text

from digest.db.engine import MIGRATIONS, alembic_config, current_revision, open_engine, upgrade
from digest.db.schema import metadata, ours
from digest.locks import lock_key
from digest.preferences import Preferences
from digest.store import runs as run_store
from digest.store.edition_claims import Claim, claim_editions
from digest.store.editions import editions_of, in_flight
from digest.store.subscribers import add_subscriber
from tests.fresh_db import fresh_database

T0 = datetime(2026, 11, 19, 5, 0)  # naive UTC: how 0001 stores times

# Representative rows for 0001's tables, parents before children.
ROWS: dict[str, list[dict]] = {
    "meta": [{"key": "secret_key", "value": "s3cret-ünïcode"}],
    "fetch_state": [
        {
            "source": "arxiv",
            "etag": '"abc"',
            "last_modified": "Thu, 19 Nov 2026 05:00:00 GMT",
            "last_attempt_at": T0,
            "last_success_at": T0,
            "last_error": None,
            "last_report": {"fetched": 3, "new": 2, "updated": 1, "skipped": 0},
        }
    ],
    "papers": [
        {
            "id": 7,
            "key": "2611.14000",
            "arxiv_id": "2611.14000",
            "version": 2,
            "doi": None,
            "title": "Diffusion Priors für Tiefe — {{ 7*7 }}",
            "abstract": "Line one.\nLine <two> & three.",
            "authors": ["Ada Lovelace", "Alan Turing"],
            "categories": ["cs.CV", "cs.LG"],
            "primary_category": "cs.CV",
            "announce_type": "new",
            "published_at": T0,
            "updated_at": T0,
            "available_at": T0,
            "trending_at": None,
            "first_seen_at": T0,
            "trending_seen_at": None,
            "changed_at": T0,
            "abs_url": "https://arxiv.org/abs/2611.14000",
            "pdf_url": "https://arxiv.org/pdf/2611.14000",
            "hf_url": None,
            "code_url": None,
            "project_url": None,
            "upvotes": 12,
            "comments": 0,
            "github_stars": None,
            "ai_summary": None,
            "ai_keywords": [],
            "sources": ["arxiv", "hf"],
        }
    ],
    "subscribers": [
        {
            "id": 3,
            "email": "ada@example.org",
            "status": "active",
            "name": "Ada",
            "topics": ["computer-vision", "nlp:5:10"],
            "keywords": ["diffusion"],
            "categories": [],
            "authors": [],
            "mute": ["survey"],
            "frequency": "daily",
            "weekday": 0,
            "timezone": "Europe/Berlin",
            "hour": 7,
            "max_papers": 12,
            "format": "html",
            "cross_lists": True,
            "min_upvotes": 0,
            "created_at": T0,
            "confirmed_at": T0,
            "unsubscribed_at": None,
            "soft_bounces": 1,
        }
    ],
    "suppressions": [{"email_hash": "0" * 64, "reason": "bounce", "created_at": T0}],
    "editions": [
        {
            "id": 5,
            "subscriber_id": 3,
            "period": "2026-11-19",
            "status": "sent",
            "claimed_at": T0,
            "leased_at": T0,
            "sent_at": T0,
            "paper_count": 1,
            "sections": [{"slug": "computer-vision", "entries": [["2611.14000", "cs.CV"]]}],
            "rendering_key": "f" * 64,
            "message_id": "<1@digest.example.org>",
            "mailer": "outbox",
            "error": None,
        }
    ],
    "sent_log": [{"subscriber_id": 3, "paper_key": "2611.14000", "edition_id": 5, "sent_at": T0}],
}


def revisions() -> list[str]:
    """Every revision id from the first to head, in order (one branch)."""
    script = ScriptDirectory.from_config(alembic_config(None))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    with fresh_database(request.param, tmp_path) as url:
        engine = open_engine(url)
        yield engine
        engine.dispose()


def reflected(conn, name: str) -> Table:
    return Table(name, MetaData(), autoload_with=conn)


def insert_rows(engine) -> None:
    with engine.begin() as conn:
        for name, rows in ROWS.items():
            conn.execute(reflected(conn, name).insert(), rows)


# Columns a downgrade brings back without their values: 0007 dropped the
# editions' rendering_key (a hash of the rendered digest that nothing read
# back) and leased_at (a record; it comes back as the claim time).
LOSSY_DOWNGRADE = {("editions", "rendering_key"), ("editions", "leased_at")}


def assert_rows_survive(engine, step: str, *, lossy: frozenset = frozenset()) -> None:
    with engine.connect() as conn:
        present = set(inspect(conn).get_table_names())
        for name, rows in ROWS.items():
            if name not in present:
                continue
            table = reflected(conn, name)
            found = [dict(r._mapping) for r in conn.execute(select(table))]
            assert len(found) == len(rows), f"{name}: rows lost or added at {step}"
            for expected, row in zip(rows, found, strict=True):
                kept = {k: v for k, v in expected.items() if k in table.c}
                kept = {k: v for k, v in kept.items() if (name, k) not in lossy}
                assert {k: row[k] for k in kept} == kept, f"{name} changed at {step}"


def test_the_revisions_form_one_line_from_0001():
    ids = revisions()
    assert ids[0] == "0001"
    script = ScriptDirectory.from_config(alembic_config(None))
    assert script.get_heads() == [ids[-1]], "several heads: chain the revisions"


def test_each_revision_keeps_the_data_upward_from_0001(engine):
    config = alembic_config(engine)
    first, *later = revisions()
    command.upgrade(config, first)
    insert_rows(engine)
    for revision in later:
        command.upgrade(config, revision)
        assert current_revision(engine) == revision
        assert_rows_survive(engine, revision)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": ours}
        )
        assert compare_metadata(context, metadata) == []
    # The sequences still hand out fresh ids after every table rebuild.
    with engine.begin() as conn:
        new_id = add_subscriber(
            conn, "bob@example.org", Preferences(), status="active", now=datetime.now().astimezone()
        )
    assert new_id != 3


def test_the_latest_revision_goes_down_and_up_again(engine):
    config = alembic_config(engine)
    *earlier, head = revisions()
    command.upgrade(config, "0001")
    insert_rows(engine)
    command.upgrade(config, "head")
    below = earlier[-1] if earlier else "base"
    command.downgrade(config, below)
    assert current_revision(engine) == (earlier[-1] if earlier else None)
    if earlier:
        assert_rows_survive(engine, f"downgrade to {below}", lossy=LOSSY_DOWNGRADE)
    else:
        # 0001 is head: its downgrade removes every table it made.
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert current_revision(engine) == head
    if earlier:
        assert_rows_survive(engine, f"upgrade again to {head}")
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": ours}
        )
        assert compare_metadata(context, metadata) == []


PROBE = '''"""probe: rebuild the subscribers table the way SQLite batch migrations do"""
import sqlalchemy as sa
from alembic import op

revision = "probe"
down_revision = "{head}"


def upgrade():
    with op.batch_alter_table("subscribers", recreate="always") as batch:
        batch.add_column(sa.Column("probe", sa.Integer(), nullable=True))


def downgrade():
    pass
'''


def test_a_sqlite_table_rebuild_keeps_the_rows_that_point_at_it(tmp_path):
    """SQLite rebuilds a table to alter it (copy, DROP, rename); with foreign keys
    on, dropping `subscribers` would cascade-delete every edition and sent-log
    row. The environment turns them off for the migration and checks after."""
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / "9999_probe.py").write_text(PROBE.format(head=revisions()[-1]))
    with fresh_database("sqlite", tmp_path) as url:
        engine = open_engine(url)
        config = alembic_config(engine)
        command.upgrade(config, "0001")
        insert_rows(engine)
        command.upgrade(config, "head")
        config.set_main_option("script_location", str(migrations))
        command.upgrade(config, "probe")
        assert current_revision(engine) == "probe"
        assert_rows_survive(engine, "a rebuild of subscribers")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        engine.dispose()


def test_two_inits_at_once_on_postgresql_both_succeed(tmp_path):
    with fresh_database("postgresql", tmp_path) as url:
        env = {**os.environ, "DIGEST_CONFIG": "", "DIGEST_DATABASE_URL": url}
        digest = str(Path(sys.executable).with_name("digest"))
        runs = [
            subprocess.Popen([digest, "init"], env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        outputs = sorted(run.communicate(timeout=300)[0].strip() for run in runs)
        assert [run.returncode for run in runs] == [0, 0]
        head = revisions()[-1]
        assert outputs == [
            f"Created the database (schema {head}).",
            f"Database is up to date (schema {head}).",
        ]


def test_a_second_init_on_postgresql_waits_for_the_first_and_does_nothing(tmp_path):
    with fresh_database("postgresql", tmp_path) as url:
        holder, engine = open_engine(url), open_engine(url)
        try:
            with holder.connect() as conn:
                # Stand in for a first `digest init` mid-migration: hold its lock.
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key("migrations")})
                with ThreadPoolExecutor(1) as pool:
                    waiting = pool.submit(upgrade, engine)
                    while not conn.execute(WAITING_FOR_ADVISORY_LOCK).scalar_one():
                        assert not waiting.done(), waiting.exception()
                    assert current_revision(holder) is None  # it built nothing meanwhile
                    conn.execute(text("SELECT pg_advisory_unlock_all()"))
                    assert waiting.result(timeout=120) == (None, revisions()[-1])
        finally:
            holder.dispose()
            engine.dispose()


WAITING_FOR_ADVISORY_LOCK = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
)


def test_0010_narrows_the_update_trigger_and_keeps_the_counts(tmp_path):
    """Revision 0009's trigger counted every status update; 0010's counts one
    only when it crosses the counted states (and still counts the other
    columns planning reads). The counts made before stay; down again, the
    wide trigger is back."""
    engine = open_engine(f"sqlite:///{tmp_path / 'versions.db'}")
    config = alembic_config(engine)
    command.upgrade(config, "0001")
    insert_rows(engine)  # subscriber 3, edition 5 (sent)

    def count() -> int:
        with engine.connect() as conn:
            query = text("SELECT version FROM edition_versions WHERE subscriber_id = 3")
            return conn.execute(query).scalar() or 0

    def set_edition(**values) -> None:
        assignments = ", ".join(f"{column} = :{column}" for column in values)
        with engine.begin() as conn:
            conn.execute(text(f"UPDATE editions SET {assignments} WHERE id = 5"), values)

    command.upgrade(config, "0009")
    set_edition(status="unknown")  # counted -> counted: 0009 counts it
    assert count() == 1
    command.upgrade(config, "0010")
    assert count() == 1
    set_edition(status="sent")  # counted -> counted: no longer
    set_edition(message_id="<2@digest.example.org>")  # not read by planning
    assert count() == 1
    set_edition(status="failed")  # leaves the counted states
    set_edition(period="2026-11-20")
    assert count() == 3
    command.downgrade(config, "0009")
    set_edition(status="released")  # failed -> released: the wide trigger counts it
    assert count() == 4
    engine.dispose()


def test_0011_finds_problems_by_their_error_and_claims_by_their_run(engine):
    """0011 drops the open-states index for one on the run and one over
    editions with an error; an unknown edition that had none gets one, so
    `digest status` and resending still find it. Down again, the open-states
    index is back (and PostgreSQL's fillfactor reset)."""
    config = alembic_config(engine)
    command.upgrade(config, "0001")
    insert_rows(engine)  # edition 5, sent
    command.upgrade(config, "0010")
    with engine.begin() as conn:
        conn.execute(text("UPDATE editions SET status = 'unknown', error = NULL WHERE id = 5"))
    command.upgrade(config, "0011")
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        names = {index["name"] for index in inspect(conn).get_indexes("editions")}
        assert {"ix_editions_run", "ix_editions_problems"} <= names
        assert "ix_editions_open" not in names
        # What `digest status` looks for (the code of this revision's time:
        # today's reads columns of later revisions).
        problems = text("SELECT id FROM editions WHERE status = 'unknown' AND error IS NOT NULL")
        assert conn.execute(problems).scalars().all() == [5]
        if postgres:
            options = text("SELECT reloptions FROM pg_class WHERE relname = 'editions'")
            assert conn.execute(options).scalar() == ["fillfactor=90"]
    command.downgrade(config, "0010")
    with engine.connect() as conn:
        names = {index["name"] for index in inspect(conn).get_indexes("editions")}
        assert "ix_editions_open" in names and "ix_editions_run" not in names
        if postgres:
            assert conn.execute(options).scalar() is None


def test_0012_keys_editions_by_period_number_and_reads_mailer_and_count_elsewhere(engine):
    """0012 keys editions by (subscriber, period number); an edition claimed
    before keeps its own mailer and paper count, a new claim writes neither
    (its run and its digest hold them) and reads the same; on SQLite the
    rebuilt table keeps its partial indexes and the change-count triggers.
    Down again, the new claim gets its count and mailer written back and the
    (subscriber, period) constraint returns."""
    config = alembic_config(engine)
    command.upgrade(config, "0001")
    insert_rows(engine)  # subscriber 3; edition 5 sent through the outbox, 1 paper
    command.upgrade(config, "0012")
    sqlite = engine.dialect.name == "sqlite"
    now = datetime.now(UTC)
    sections = [{"slug": "nlp", "title": "NLP", "entries": [["a", "r"], ["b", "r"]]}]
    with engine.begin() as conn:
        run = run_store.insert_run(conn, kind="send", host="h", pid=1, now=now, mailer="sendgrid")
        claim = Claim(3, "2026-W48", "pending", sections)
        (new,) = claim_editions(conn, [claim], now=now, run_id=run).values()
        assert claim_editions(conn, [claim], now=now, run_id=run) == {}  # the key holds
        conn.execute(text(f"UPDATE editions SET status = 'sending' WHERE id = {new}"))
    with engine.connect() as conn:
        stored = text(f"SELECT paper_count, mailer FROM editions WHERE id = {new}")
        assert conn.execute(stored).one() == (None, None)
        assert [(e["id"], e["paper_count"]) for e in editions_of(conn, 3)] == [(5, 1), (new, 2)]
        assert [e["mailer"] for e in in_flight(conn, run)] == ["sendgrid"]
        if sqlite:
            schema = dict(conn.execute(text("SELECT name, sql FROM sqlite_master")).all())
            assert "WHERE status IN" in schema["ix_editions_run"]
            assert "WHERE error IS NOT NULL" in schema["ix_editions_problems"]
            assert {"editions_version_insert", "editions_version_update"} <= set(schema)
            versions = text("SELECT version FROM edition_versions WHERE subscriber_id = 3")
            assert conn.execute(versions).scalar() == 1  # the claim, counted by its trigger
    command.downgrade(config, "0011")
    with engine.begin() as conn:
        assert conn.execute(stored).one() == (2, "sendgrid")
        names = {c["name"] for c in inspect(conn).get_unique_constraints("editions")}
        assert "uq_editions_subscriber_period" in names
