"""`Prepared` statements run on the driver's cursor as SQLAlchemy would run
them: the same rows, the same stored values (types' processors applied), in
the caller's transaction, heard by `before_cursor_execute` listeners; outside
a transaction or with an expanding list they go through SQLAlchemy."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, event, insert, select, update

from digest.db.schema import suppressions
from digest.store.prepared import Prepared

WHEN = datetime(2026, 11, 29, 18, 30, 5, 123456, tzinfo=UTC)

TOUCH = Prepared(
    update(suppressions)
    .where(suppressions.c.email_hash == bindparam("hash"))
    .values(reason="bounce", created_at=bindparam("when", type_=suppressions.c.created_at.type))
    .returning(suppressions.c.email_hash, suppressions.c.reason)
)


def _rows(conn):
    return conn.execute(select(suppressions).order_by(suppressions.c.email_hash)).all()


def test_it_stores_and_returns_what_sqlalchemy_would(engine):
    with engine.begin() as conn:
        conn.execute(
            insert(suppressions),
            [{"email_hash": h, "reason": "manual", "created_at": WHEN} for h in ("a", "b")],
        )
    heard = []
    event.listen(engine, "before_cursor_execute", lambda *args: heard.append(args[2]))
    with engine.begin() as conn:
        assert TOUCH.rows(conn, {"hash": "a", "when": WHEN}) == [("a", "bounce")]
        assert TOUCH.rows(conn, {"hash": "zz", "when": WHEN}) == []
    assert any(sql.startswith("UPDATE suppressions") for sql in heard)
    with engine.begin() as conn:
        # The same statement through SQLAlchemy gives the same stored row.
        conn.execute(TOUCH.statement, {"hash": "b", "when": WHEN})
    with engine.connect() as conn:
        a, b = _rows(conn)
    assert a.created_at == b.created_at == WHEN and a.reason == b.reason == "bounce"


def test_it_runs_through_sqlalchemy_outside_a_transaction_or_with_an_expanding_list(engine):
    with engine.begin() as conn:
        conn.execute(insert(suppressions), {"email_hash": "a", "reason": "x", "created_at": WHEN})
    among = Prepared(
        select(suppressions.c.email_hash).where(
            suppressions.c.email_hash.in_(bindparam("hashes", expanding=True))
        )
    )
    with engine.begin() as conn:
        assert among.rows(conn, {"hashes": ["a", "b"]}) == [("a",)]
    with engine.connect() as conn:  # no transaction begun: SQLAlchemy begins one
        assert TOUCH.rows(conn, {"hash": "a", "when": WHEN}) == [("a", "bounce")]
        conn.commit()
