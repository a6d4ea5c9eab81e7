"""Shared fixtures. `engine` runs each database test on SQLite and, when
DIGEST_TEST_DATABASE_URL is set, on PostgreSQL too (one database per xdist
worker, emptied between tests)."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import text

from digest.db.engine import head_revision, open_engine, upgrade
from digest.db.schema import metadata
from tests.fakes.http_server import FakeHTTPServer
from tests.fresh_db import PG_URL, postgres_database

__all__ = ["PG_URL"]  # tests import it from here
BACKENDS = ["sqlite", "postgresql"]
QUEUE_TABLES = (
    "procrastinate_jobs",
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_workers",
)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated SQLite file copied for each test (migrating once is faster)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database_url(worker_id):
    """A fresh, migrated PostgreSQL database for this xdist worker."""
    with postgres_database(f"digest_test_{worker_id}") as url:
        engine = open_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path, sqlite_template):
    """The URL of an empty, migrated database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "digest.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    yield from _emptied(request.getfixturevalue("pg_database_url"))


@pytest.fixture
def pg_empty_url(pg_database_url):
    """The worker's PostgreSQL database, emptied for this test (tests that
    need PostgreSQL itself, such as two `digest send` processes at once)."""
    yield from _emptied(pg_database_url)


def _emptied(url: str):
    """Empty the worker's PostgreSQL database, yield its URL, then check the
    schema version the test left."""
    engine = open_engine(url)
    # procrastinate's tables too (the send queue, made by revision 0008).
    names = [t.name for t in metadata.sorted_tables] + list(QUEUE_TABLES)
    tables = ", ".join(f'"{name}"' for name in names)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    yield url
    _restore_schema_version(url)


def _restore_schema_version(url: str) -> None:
    """The worker's PostgreSQL database outlives each test, and TRUNCATE leaves
    `alembic_version` alone: a test that changed it must put it back, or every
    later test on this worker would meet a schema "behind". Restore it for the
    next test and fail the test that left it changed."""
    head = head_revision()
    engine = open_engine(url)
    try:
        with engine.begin() as conn:
            found = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            if found != [head]:
                conn.execute(text("DELETE FROM alembic_version"))
                conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": head})
    finally:
        engine.dispose()
    assert found == [head], f"the test left alembic_version at {found}, not [{head!r}]"


@pytest.fixture
def engine(database_url):
    engine = open_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def worker_id(request):
    """xdist's worker id, or "main" when running without xdist."""
    return getattr(request.config, "workerinput", {}).get("workerid", "main")


@pytest.fixture
def server():
    """A scripted HTTP server on loopback (see tests/fakes/http_server.py)."""
    with FakeHTTPServer() as fake:
        yield fake


@pytest.fixture
def waits() -> list[float]:
    """What a Fetcher built with `sleep=waits.append` would have slept."""
    return []
