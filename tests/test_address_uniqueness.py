"""One subscriber per address, ignoring case, enforced by the database
(migration 0002): racing sign-ups for Ada@ and ada@ create one subscriber."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from digest.db.engine import alembic_config, open_engine
from digest.preferences import Preferences, TopicChoice
from digest.store.subscribers import SubscriberExists, add_subscriber, list_subscribers
from tests.cli_helpers import run_digest
from tests.conftest import PG_URL

NOW = datetime(2026, 11, 29, 7, tzinfo=UTC)
PREFS = Preferences(topics=[TopicChoice("nlp")])
TRIALS = 20


def test_cli_add_refuses_an_address_differing_only_by_case(database_url, tmp_path):
    env = {"DIGEST_DATABASE_URL": database_url, "DIGEST_OUTBOX_DIR": str(tmp_path / "out")}
    first = run_digest(["subscribers", "add", "Ada@Example.org", "--topic", "nlp"], env)
    assert first.exit_code == 0 and "ada@example.org" in first.stdout
    second = run_digest(["subscribers", "add", "ada@example.org", "--topic", "nlp"], env)
    assert second.exit_code == 1 and "already subscribed" in second.stderr


def race(engine, addresses: list[str]) -> list[object]:
    """Each address added in its own thread and transaction, all released at once;
    what each got (a subscriber id or the exception)."""
    barrier = threading.Barrier(len(addresses))
    results: list[object] = [None] * len(addresses)

    def add(n: int) -> None:
        barrier.wait()
        try:
            with engine.begin() as conn:
                results[n] = add_subscriber(conn, addresses[n], PREFS, status="active", now=NOW)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            results[n] = exc

    threads = [threading.Thread(target=add, args=(n,)) for n in range(len(addresses))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_racing_adds_for_one_address_create_exactly_one_subscriber(engine):
    for trial in range(TRIALS):
        local = f"ada{trial}"
        results = race(engine, [f"{local.title()}@Example.org", f"{local}@example.org"])
        won = [r for r in results if isinstance(r, int)]
        lost = [r for r in results if isinstance(r, SubscriberExists)]
        assert len(won) == 1 and len(lost) == 1, results
    with engine.connect() as conn:
        emails = sorted(s.email for s in list_subscribers(conn))
    assert emails == sorted(f"ada{trial}@example.org" for trial in range(TRIALS))


def test_the_index_not_the_lookup_stops_a_second_insert(engine):
    """The pre-check cannot see an insert not yet committed: the loser is stopped
    by the unique index on lower(email), and its transaction stays usable."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite writers take the whole database at BEGIN; there is no overlap")
    first = engine.connect()
    first_tx = first.begin()
    add_subscriber(first, "Ada@example.org", PREFS, status="active", now=NOW)
    outcome: list[object] = []

    def second() -> None:
        with engine.begin() as conn:
            try:
                add_subscriber(conn, "ADA@example.org", PREFS, status="pending", now=NOW)
            except SubscriberExists as exc:
                outcome.append(exc)
            # The transaction goes on after the refused insert.
            outcome.append(add_subscriber(conn, "bob@example.org", PREFS, status="active", now=NOW))

    thread = threading.Thread(target=second)
    thread.start()
    _wait_for_a_blocked_insert(engine)
    first_tx.commit()
    first.close()
    thread.join()
    assert isinstance(outcome[0], SubscriberExists) and isinstance(outcome[1], int)
    with engine.connect() as conn:
        assert sorted(s.email for s in list_subscribers(conn)) == [
            "ada@example.org",
            "bob@example.org",
        ]


def _wait_for_a_blocked_insert(engine) -> None:
    """Return once another session waits on a lock (the second insert, held by
    the first one's uncommitted row)."""
    query = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
    with engine.connect() as conn:
        for _ in range(100_000):
            if conn.execute(query).scalar_one():
                return
            conn.rollback()
    raise AssertionError("the second insert never waited for the first")


def test_the_database_refuses_a_second_spelling_even_without_the_store(engine):
    with engine.begin() as conn:
        add_subscriber(conn, "ada@example.org", PREFS, status="active", now=NOW)
    row = {
        "email": "ADA@example.org", "status": "pending", "topics": "[]", "keywords": "[]",
        "categories": "[]", "authors": "[]", "mute": "[]", "frequency": "daily", "weekday": 0,
        "timezone": "UTC", "hour": 7, "max_papers": 20, "format": "html", "cross_lists": True,
        "min_upvotes": 0, "created_at": NOW.replace(tzinfo=None), "soft_bounces": 0,
    }  # fmt: skip
    columns = ", ".join(row)
    values = ", ".join(f":{name}" for name in row)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(f"INSERT INTO subscribers ({columns}) VALUES ({values})"), row)


# --- the migration, upward from 0001 with data in the tables ------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    """A database with no tables yet, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    if not PG_URL:
        pytest.skip("DIGEST_TEST_DATABASE_URL is not set")
    admin = open_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    name = f"digest_migrate_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _subscriber(conn, sid: int, email: str, status: str, hour: int) -> None:
    conn.execute(
        text(
            "INSERT INTO subscribers (id, email, status, topics, keywords, categories, authors,"
            " mute, frequency, weekday, timezone, hour, max_papers, format, cross_lists,"
            " min_upvotes, created_at, soft_bounces) VALUES (:id, :email, :status,"
            ' \'[{"slug": "nlp", "max_papers": null, "min_upvotes": null}]\', \'[]\', \'[]\','
            " '[]', '[]', 'daily', 0, 'UTC', :hour, 20, 'html', true, 0, :at, 0)"
        ),
        {"id": sid, "email": email, "status": status, "hour": hour, "at": datetime(2026, 11, 1)},
    )


def _edition(conn, eid: int, sid: int, period: str) -> None:
    conn.execute(
        text(
            "INSERT INTO editions (id, subscriber_id, period, status, claimed_at, leased_at,"
            " paper_count) VALUES (:id, :sid, :period, 'sent', :at, :at, 1)"
        ),
        {"id": eid, "sid": sid, "period": period, "at": datetime(2026, 11, 2)},
    )


def _sent(conn, sid: int, key: str, eid: int) -> None:
    conn.execute(
        text(
            "INSERT INTO sent_log (subscriber_id, paper_key, edition_id, sent_at)"
            " VALUES (:sid, :key, :eid, :at)"
        ),
        {"sid": sid, "key": key, "eid": eid, "at": datetime(2026, 11, 2)},
    )


def test_migration_0002_lower_cases_and_merges_addresses_with_data_in_place(empty_url):
    engine = open_engine(empty_url)
    try:
        command.upgrade(alembic_config(engine), "0001")
        with engine.begin() as conn:
            _subscriber(conn, 1, "Ada@Example.org", "pending", hour=6)
            _subscriber(conn, 2, "ada@example.org", "active", hour=9)
            _subscriber(conn, 3, "Bob@Example.ORG", "active", hour=7)
            _subscriber(conn, 4, "cy@example.org", "unsubscribed", hour=7)
            _subscriber(conn, 5, "CY@example.org", "active", hour=8)
            _edition(conn, 10, 1, "2026-11-01")  # only the pending spelling had this one
            _edition(conn, 11, 1, "2026-11-02")  # both had 2026-11-02
            _edition(conn, 12, 2, "2026-11-02")
            _edition(conn, 13, 3, "2026-11-02")
            _edition(conn, 14, 5, "2026-11-02")
            _sent(conn, 1, "2411.00001", 10)
            _sent(conn, 1, "2411.00002", 11)
            _sent(conn, 1, "2411.00003", 11)  # sent to both spellings
            _sent(conn, 2, "2411.00003", 12)
            _sent(conn, 2, "2411.00004", 12)
            _sent(conn, 3, "2411.00005", 13)
            _sent(conn, 5, "2411.00006", 14)
        command.upgrade(alembic_config(engine), "0002")  # the sent log is 0007's business
        with engine.connect() as conn:
            subs = conn.execute(text("SELECT id, email, status, hour FROM subscribers ORDER BY id"))
            # The active spelling of Ada is kept with its preferences; Cy, who
            # unsubscribed under one spelling, stays unsubscribed.
            assert [tuple(r) for r in subs] == [
                (2, "ada@example.org", "active", 9),
                (3, "bob@example.org", "active", 7),
                (4, "cy@example.org", "unsubscribed", 7),
            ]
            editions = conn.execute(
                text("SELECT id, subscriber_id, period FROM editions ORDER BY id")
            )
            assert [tuple(r) for r in editions] == [
                (10, 2, "2026-11-01"),
                (12, 2, "2026-11-02"),
                (13, 3, "2026-11-02"),
                (14, 4, "2026-11-02"),
            ]
            sent = conn.execute(
                text("SELECT subscriber_id, paper_key, edition_id FROM sent_log ORDER BY 2")
            )
            # Everything either spelling was sent stays in the kept sent log.
            assert [tuple(r) for r in sent] == [
                (2, "2411.00001", 10),
                (2, "2411.00002", 12),
                (2, "2411.00003", 12),
                (2, "2411.00004", 12),
                (3, "2411.00005", 13),
                (4, "2411.00006", 14),
            ]
        with pytest.raises(IntegrityError), engine.begin() as conn:
            _subscriber(conn, 9, "BOB@example.org", "pending", hour=7)
    finally:
        engine.dispose()
