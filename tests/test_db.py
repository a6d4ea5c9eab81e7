"""The schema: migrations match the models, the version check, the stored secret."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from digest.db.engine import SchemaError, head_revision, require_current
from digest.db.schema import metadata
from digest.store.meta import ensure_secret_key


def test_the_migrations_build_exactly_the_models(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_commands_refuse_a_schema_that_is_behind(engine):
    require_current(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    try:
        with pytest.raises(SchemaError, match="run `digest init` to migrate"):
            require_current(engine)
    finally:
        # The PostgreSQL test database is shared by the worker's later tests.
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE alembic_version SET version_num = :head"), {"head": head_revision()}
            )


def test_the_generated_secret_key_is_made_once_and_shared(engine):
    first = ensure_secret_key(engine)
    assert len(first) >= 40
    assert ensure_secret_key(engine) == first
