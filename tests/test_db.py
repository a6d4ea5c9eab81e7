"""The schema: migrations match the models, the version check, the stored secret."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from digest.db.engine import SchemaError, head_revision, require_current
from digest.db.schema import metadata, ours
from digest.store.meta import ensure_secret_key


# SQLite cannot reflect the expression index on lower(email), so it is compared
# on PostgreSQL only (tests/test_address_uniqueness.py checks it works on both).
@pytest.mark.filterwarnings("ignore:.*expression-based index uq_subscribers_email_lower")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_the_migrations_build_exactly_the_models(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": ours}
        )
        assert compare_metadata(context, metadata) == []


def test_commands_refuse_a_schema_that_is_behind(engine):
    require_current(engine)
    head = head_revision()
    # alembic_version is not emptied between tests (the PostgreSQL database is
    # shared by every test of a worker): put back what this test changes.
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
        with pytest.raises(SchemaError, match="run `digest init` to migrate"):
            require_current(engine)
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    require_current(engine)


def test_the_generated_secret_key_is_made_once_and_shared(engine):
    first = ensure_secret_key(engine)
    assert len(first) >= 40
    assert ensure_secret_key(engine) == first


def test_a_checkpointer_takes_over_the_wal_checkpoints_of_a_shared_send(engine, database_url):
    """The processes of a shared send leave SQLite's WAL checkpoints to their
    parent (`checkpoint_elsewhere`): their commits then no longer copy the
    WAL into the database file, and the parent's `Checkpointer` does, without
    a transaction of its own. On PostgreSQL both do nothing."""
    from digest.db.engine import Checkpointer, checkpoint_elsewhere, open_engine

    sending = open_engine(database_url)
    checkpoint_elsewhere(sending)
    checkpoint = Checkpointer(engine)
    try:
        with sending.begin() as conn:
            if engine.dialect.name == "sqlite":
                pages = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
                assert pages > 1000
            for n in range(50):
                conn.execute(
                    text("INSERT INTO meta (key, value) VALUES (:k, :v)"),
                    {"k": f"probe-{n}", "v": "x" * 2000},
                )
        answer = checkpoint()
        if engine.dialect.name == "sqlite":
            busy, pages, copied = answer
            # The commits left their pages in the WAL; the checkpointer copied them.
            assert busy == 0 and pages >= 25 and copied == pages
        else:
            assert answer is None
        with engine.begin() as conn:  # a writer is not held up by it
            conn.execute(text("DELETE FROM meta WHERE key LIKE 'probe-%'"))
    finally:
        checkpoint.close()
        sending.dispose()
