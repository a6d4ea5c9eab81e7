"""A few statements run on the driver's cursor, for the send path's hottest ones.

A send records each provider call and hands the next one over in one
transaction of three or four short statements (`digest.store.editions`:
`hand_over`, `set_each`), some 25,000 transactions for 100,000 readers.
SQLAlchemy's execution path costs about 50 us a statement on top of what the
database does (SQLite's own work on such a statement is about 15 us), so
`Prepared` compiles a statement once per dialect and runs it on the driver's
cursor inside the caller's transaction: the same SQL text, the same bound
values (each bound through its column type's processor, as SQLAlchemy would),
the rows as tuples. Listeners of `before_cursor_execute` still hear of each
statement.

Only statements with a fixed set of parameters qualify (no expanding lists:
`digest.store.editions` binds short lists one parameter per value). Outside a
transaction, or when a statement does not qualify, it runs through
`Connection.execute` as usual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from sqlalchemy import Connection
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql import Executable


class _Compiled(NamedTuple):
    sql: str
    order: tuple[str, ...] | None  # positional drivers (SQLite): the parameters' order
    fixed: dict[str, Any]  # values the statement binds itself (literals in `values()`)
    processors: dict[str, Callable[[Any], Any]]


class Prepared:
    """`statement`, compiled once per dialect and driver (a process sees one
    or two)."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, str], _Compiled | None] = {}

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple]:
        """Run the statement with `params` in `conn`'s transaction; its rows
        (RETURNING or SELECT) as tuples."""
        compiled = self._for(conn.dialect)
        if compiled is None or not conn.in_transaction():
            return [tuple(row) for row in conn.execute(self.statement, dict(params))]
        values = {**compiled.fixed, **params}
        for name, process in compiled.processors.items():
            values[name] = process(values[name])
        bound = values if compiled.order is None else [values[n] for n in compiled.order]
        cursor = conn.connection.driver_connection.cursor()
        try:
            announce = conn.dispatch.before_cursor_execute
            if announce:  # as SQLAlchemy would (its listeners' return values are not used)
                announce(conn, cursor, compiled.sql, bound, None, False)
            cursor.execute(compiled.sql, bound)
            return cursor.fetchall() if cursor.description is not None else []
        finally:
            cursor.close()

    def _for(self, dialect: Dialect) -> _Compiled | None:
        key = (dialect.name, dialect.driver)
        if key not in self._compiled:
            self._compiled[key] = _compile(self.statement, dialect)
        return self._compiled[key]


def _compile(statement: Executable, dialect: Dialect) -> _Compiled | None:
    """The statement's SQL for `dialect`, or None when it cannot run on the
    cursor as it is (parameters rendered at execution, escaped names, a
    parameter style other than qmark or pyformat)."""
    compiled = statement.compile(dialect=dialect)
    if compiled.post_compile_params or compiled.literal_execute_params:
        return None
    if getattr(compiled, "escaped_bind_names", None):
        return None
    if dialect.paramstyle == "qmark":
        order = tuple(compiled.positiontup or ())
    elif dialect.paramstyle == "pyformat":
        order = None
    else:
        return None
    processors = {}
    for name, bind in compiled.binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors[name] = process
    fixed = {
        name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
    }
    return _Compiled(str(compiled), order, fixed, processors)
