"""Shared digest rows (digest.store.digests): one row per key, whoever
inserts it, and the paper keys `Received` reads from them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from digest.db.schema import digests
from digest.store.digests import keys_of, paper_keys, save_digests, sections_of

NOW = datetime(2026, 3, 2, 7, tzinfo=UTC)


def _record(*keys: str) -> tuple[str, list[dict]]:
    return "2026-03-02", [{"slug": "vision", "title": "Vision", "entries": [[k, ""] for k in keys]}]


def test_save_digests_returns_the_ids_of_new_and_existing_rows(engine):
    with engine.begin() as conn:
        first = save_digests(conn, {"a": _record("p1")}, now=NOW)
    with engine.begin() as conn:
        both = save_digests(conn, {"a": _record("p1"), "b": _record("p2", "p3")}, now=NOW)
        rows = dict(conn.execute(select(digests.c.key, digests.c.id)).all())
        assert keys_of(conn, rows.values()) == {
            i: paper_keys(s) for i, s in sections_of(conn, rows.values()).items()
        }
    assert both == rows and both["a"] == first["a"] and set(rows) == {"a", "b"}


def test_a_digest_another_transaction_inserted_meanwhile_is_shared(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite writers take the whole database at BEGIN; there is no overlap")
    inserted, found = threading.Event(), {}

    def second() -> None:
        assert inserted.wait(30)
        with engine.begin() as conn:
            # Waits on the first transaction's uncommitted "a", then inserts nothing.
            found.update(save_digests(conn, {"a": _record("p1"), "b": _record("p2")}, now=NOW))

    thread = threading.Thread(target=second)
    with engine.begin() as conn:
        first = save_digests(conn, {"a": _record("p1")}, now=NOW)
        thread.start()
        inserted.set()
        thread.join(0.5)  # still waiting for this transaction
        assert thread.is_alive()
    thread.join(30)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(digests)).scalar_one()
    assert found["a"] == first["a"] and set(found) == {"a", "b"} and count == 2
