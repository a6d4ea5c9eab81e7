"""A run's unsettled claims are found through the run index, on SQLite too,
where that index covers only unsettled editions (revision 0011): SQLite uses
a partial index only for a query that repeats its condition, which the
lookups do (`OPEN_CLAIM`). Without it, each run's end would read the whole
editions table."""

from __future__ import annotations

from sqlalchemy import event

from digest.db.engine import open_engine, upgrade
from digest.store import editions as edition_store
from digest.store.queued import queued_ids


def test_a_runs_claims_are_found_through_the_run_index_on_sqlite(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path / 'runs.db'}")
    upgrade(engine)
    seen: list[tuple[str, tuple]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().startswith("SELECT") and "editions" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    with engine.begin() as conn:
        assert edition_store.release_pending(conn, 3) == 0
        assert edition_store.release_pending(conn, None) == 0
        assert edition_store.in_flight(conn, 3) == []
        assert queued_ids(conn) == []
    event.remove(engine, "before_cursor_execute", record)
    assert len(seen) == 4
    with engine.connect() as conn:
        for sql, params in seen:
            plan = " ".join(
                row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)
            )
            assert "USING INDEX ix_editions_run" in plan, (sql, plan)
    engine.dispose()
