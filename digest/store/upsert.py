"""The dialect's INSERT, for `ON CONFLICT DO NOTHING` on either database."""

from __future__ import annotations

from sqlalchemy import Connection, Table


def insert(conn: Connection, table: Table):
    """`insert(table)` of the connection's dialect (it has `on_conflict_do_nothing`)."""
    # Imported here: loading the PostgreSQL dialect costs a SQLite run at start-up.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)
