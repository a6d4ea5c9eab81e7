"""The dialect's INSERT, for `ON CONFLICT DO NOTHING` on either database."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from sqlalchemy import Connection, Table, bindparam, func, select

from digest.store.prepared import Prepared

# Rows per statement of `insert_new`: 64 rows of up to 15 columns stay within
# the 999 parameters older SQLite builds allow a statement.
ROWS_PER_STATEMENT = 64


def insert(conn: Connection, table: Table):
    """`insert(table)` of the connection's dialect (it has `on_conflict_do_nothing`)."""
    return _insert_for(conn.dialect.name)(table)


def _insert_for(dialect: str):
    # Imported here: loading the PostgreSQL dialect costs a SQLite run at start-up.
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def insert_new(
    conn: Connection,
    table: Table,
    rows: Sequence[dict],
    *,
    key: tuple,
    returning: tuple[str, ...],
) -> list[tuple]:
    """Insert `rows` (each with the same columns) in the caller's transaction,
    leaving out those whose `key` matches a row already there (`ON CONFLICT
    DO NOTHING`: the unique index's columns by name, or its expressions as
    SQL elements); returns the `returning` columns of the rows
    inserted. The send path claims hundreds of rows a batch, run on the
    driver's cursor (`Prepared`). On PostgreSQL they go in as one array per
    column (`unnest`): a statement of a few parameters whatever the number of
    rows, which the driver converts once (it parses a long statement's
    placeholders anew at every execution). On SQLite, as multi-row
    statements built once per size, each statement's rows padded to a power
    of two by repeating the last (the repeat conflicts with it and inserts
    nothing)."""
    if not rows:
        return []
    columns = tuple(rows[0])
    if conn.dialect.name == "postgresql":
        statement = _arrays_statement(table, columns, key, returning)
        return statement.rows(conn, {c: [row[c] for row in rows] for c in columns})
    out: list[tuple] = []
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = list(rows[start : start + ROWS_PER_STATEMENT])
        size = 1 << (len(chunk) - 1).bit_length()
        chunk += chunk[-1:] * (size - len(chunk))
        statement = _statement(conn.dialect.name, table, columns, key, returning, size)
        out += statement.rows(
            conn, {f"{c}_{i}": row[c] for i, row in enumerate(chunk) for c in columns}
        )
    return out


@functools.lru_cache(maxsize=16)
def _arrays_statement(
    table: Table, columns: tuple[str, ...], key: tuple, returning: tuple[str, ...]
) -> Prepared:
    """`insert_new`'s statement on PostgreSQL, binding one array per column."""
    from sqlalchemy.dialects.postgresql import ARRAY

    # One dimension: a value that is itself a list (a JSON column's) stays one value.
    values = select(
        *(func.unnest(bindparam(c, type_=ARRAY(table.c[c].type, dimensions=1))) for c in columns)
    )
    statement = _insert_for("postgresql")(table).from_select(
        list(columns), values, include_defaults=False
    )
    statement = statement.on_conflict_do_nothing(index_elements=list(key))
    return Prepared(statement.returning(*(table.c[c] for c in returning)))


@functools.lru_cache(maxsize=64)
def _statement(
    dialect: str,
    table: Table,
    columns: tuple[str, ...],
    key: tuple,
    returning: tuple[str, ...],
    size: int,
) -> Prepared:
    """`insert_new`'s statement for `size` rows, binding "<column>_<row>"."""
    values = [
        {c: bindparam(f"{c}_{i}", type_=table.c[c].type) for c in columns} for i in range(size)
    ]
    statement = _insert_for(dialect)(table).values(values)
    statement = statement.on_conflict_do_nothing(index_elements=list(key))
    return Prepared(statement.returning(*(table.c[c] for c in returning)))
