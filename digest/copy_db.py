"""Copy every row of one digest database into another (SQLite -> PostgreSQL).

The contract of `copy_database(source, target)`:

- Both databases must be at the current schema (`digest init` run on each);
  otherwise `CopyError` names the side and what to do.
- The target must be empty: no rows in any table of `digest.db.schema.metadata`,
  except `meta`, whose values (the secret key a web process may have generated
  on first start) are replaced by the source's. The source's secret key comes
  along, so unsubscribe and preferences links already in inboxes keep working.
- Tables are copied in foreign-key order, in batches, inside ONE transaction on
  the target: a failure leaves the target as empty as it was. The source is
  read in one transaction too, so the copy is a consistent snapshot.
- Afterwards PostgreSQL's sequences are moved past the copied ids, so new rows
  never collide with copied ones, and the copied tables are analysed (planner
  statistics, which a bulk load leaves empty until autovacuum runs).
- The copy is generic over the metadata: a table added by a later revision is
  copied with no change here. Tables present in the source database but not in
  the metadata (the scheduler's job store, a task queue's tables) are skipped
  and named in `CopyReport.skipped`: they hold no subscriber state, and the
  processes recreate them. Tables only the target has are left as they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    Integer,
    MetaData,
    Table,
    func,
    inspect,
    select,
    text,
)

from digest.db.engine import SchemaError, require_current
from digest.db.schema import meta, metadata

BATCH_SIZE = 1000
# Tables the copy never counts or copies: Alembic's own bookkeeping.
NOT_DATA = {"alembic_version"}


class CopyError(Exception):
    """The copy cannot start; the message is one line for the operator."""


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows copied
    skipped: list[str] = field(default_factory=list)  # source tables not in the schema
    secret_key: bool = False  # a stored secret key was carried over


def copy_database(source: Engine, target: Engine, *, batch_size: int = BATCH_SIZE) -> CopyReport:
    """Copy every table of `source` into the empty, migrated `target` (see module doc)."""
    _require_current(source, "--from")
    _require_current(target, "--to")
    report = CopyReport()
    present = set(inspect(source).get_table_names())
    report.skipped = sorted(present - set(metadata.tables) - NOT_DATA)
    with _snapshot(source) as src, target.begin() as dst:
        _require_empty(dst)
        dst.execute(meta.delete())
        for table in metadata.sorted_tables:
            report.rows[table.name] = _copy_table(src, dst, table, batch_size)
        report.secret_key = bool(
            src.execute(select(meta.c.value).where(meta.c.key == "secret_key")).first()
        )
        if dst.dialect.name == "postgresql":
            for table in metadata.sorted_tables:
                _reset_sequence(dst, table)
    if target.dialect.name == "postgresql":
        _analyze(target)
    return report


def _analyze(engine: Engine) -> None:
    """Gather planner statistics for the copied tables, after the commit. A
    database filled in bulk has none until autovacuum gets to it (never,
    where autovacuum is off), and a send planned blind can sort the whole
    subscriber list for every claim batch (benchmarks/RESULTS.md, phase 3)."""
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            conn.execute(text(f'ANALYZE "{table.name}"'))


def _require_current(engine: Engine, side: str) -> None:
    try:
        require_current(engine)
    except SchemaError as exc:
        raise CopyError(f"{side}: {exc}") from None


def _require_empty(conn: Connection) -> None:
    for table in metadata.sorted_tables:
        if table is meta:
            continue
        if conn.execute(select(func.count()).select_from(table)).scalar_one():
            raise CopyError(
                f"--to: the target database is not empty (table {table.name} has rows); "
                "copy into a new database on which only `digest init` has run"
            )


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One read transaction over the whole copy. On PostgreSQL REPEATABLE READ
    sees one snapshot; on SQLite our BEGIN IMMEDIATE keeps writers out."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def _copy_table(src: Connection, dst: Connection, table: Table, batch_size: int) -> int:
    # Through the Table, so column types convert both ways (UTC datetimes, JSON, booleans).
    query = select(table).order_by(*table.primary_key.columns)
    result = src.execution_options(yield_per=batch_size).execute(query)
    insert = _writer(table).insert()
    copied = 0
    for rows in result.partitions():
        dst.execute(insert, [dict(row._mapping) for row in rows])
        copied += len(rows)
    return copied


def _writer(table: Table) -> Table:
    """The table to insert through: None in a JSON column is written as SQL NULL
    (a read cannot tell JSON null from SQL NULL, and `IS NULL` finds SQL NULL)."""
    writer = table.to_metadata(MetaData())
    for column in writer.columns:
        if isinstance(column.type, JSON):
            column.type = JSON(none_as_null=True)
    return writer


def _reset_sequence(conn: Connection, table: Table) -> None:
    """Move a serial/identity primary key's sequence past the largest copied id."""
    columns = list(table.primary_key.columns)
    if len(columns) != 1 or not isinstance(columns[0].type, Integer):
        return
    name = columns[0].name
    # setval(NULL, ...) is a no-op, so a key without a sequence is left alone.
    conn.execute(
        text(
            f'SELECT setval(pg_get_serial_sequence(:table, :column), COALESCE(MAX("{name}"), 1), '
            f'MAX("{name}") IS NOT NULL) FROM "{table.name}"'
        ),
        {"table": table.name, "column": name},
    )
