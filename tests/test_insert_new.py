"""`insert_new` inserts many rows in multi-row statements on the driver's
cursor, padded to a power of two: exactly the rows whose key is free go in,
stored as SQLAlchemy would store them, and it returns exactly those."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from digest.db.schema import suppressions
from digest.store.upsert import ROWS_PER_STATEMENT, insert_new

WHEN = datetime(2026, 11, 29, 18, 30, 5, 123456, tzinfo=UTC)


def _row(n: int) -> dict:
    return {"email_hash": f"h{n:04d}", "reason": f"r{n}", "created_at": WHEN + timedelta(days=n)}


def test_only_rows_with_a_free_key_go_in_and_come_back(engine):
    taken = [3, 70, 129]
    with engine.begin() as conn:
        conn.execute(insert(suppressions), [_row(n) | {"reason": "before"} for n in taken])
    count = 2 * ROWS_PER_STATEMENT + 3  # three statements, the last padded
    rows = [_row(n) for n in range(count)]
    with engine.begin() as conn:
        made = insert_new(conn, suppressions, rows, key=("email_hash",), returning=("email_hash",))
        again = insert_new(conn, suppressions, rows[:5], key=("email_hash",), returning=("reason",))
    assert sorted(h for (h,) in made) == [f"h{n:04d}" for n in range(count) if n not in taken]
    assert again == []
    with engine.connect() as conn:
        stored = {r.email_hash: r for r in conn.execute(select(suppressions))}
    assert len(stored) == count
    assert all(stored[f"h{n:04d}"].reason == "before" for n in taken)
    assert stored["h0005"].reason == "r5" and stored["h0005"].created_at == WHEN + timedelta(days=5)
    with engine.begin() as conn:
        assert insert_new(conn, suppressions, [], key=("email_hash",), returning=("reason",)) == []
