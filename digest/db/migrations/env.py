"""Alembic environment: runs online against the engine handed in by
`digest.db.engine.upgrade` (there is no alembic.ini)."""

from alembic import context

from digest.db.schema import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
