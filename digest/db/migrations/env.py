"""Alembic environment: runs online against the engine handed in by
`digest.db.engine.upgrade` (there is no alembic.ini)."""

from alembic import context

from digest.db.schema import metadata, ours

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch migration rebuilds a table (copy, DROP, rename). With foreign
        # keys on, dropping `subscribers` would cascade-delete every edition and
        # sent-log row, and the never-resend record with them. The pragma is
        # ignored inside a transaction, so it is set on the raw connection first.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        with connection.begin():
            context.configure(
                connection=connection,
                target_metadata=metadata,
                render_as_batch=sqlite,
                compare_type=True,
                include_name=ours,
            )
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"migration left rows without their parent: {broken[:5]}")
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
