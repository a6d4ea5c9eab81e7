"""Shared fixtures. `engine` runs each database test on SQLite and, when
DIGEST_TEST_DATABASE_URL is set, on PostgreSQL too (one database per xdist
worker, emptied between tests)."""

from __future__ import annotations

import os
import shutil
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from digest.db.engine import head_revision, open_engine, upgrade
from digest.db.schema import metadata
from tests.fakes.http_server import FakeHTTPServer

PG_URL = os.environ.get("DIGEST_TEST_DATABASE_URL")
BACKENDS = ["sqlite", "postgresql"]


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
    if not PG_URL:
        pytest.skip("DIGEST_TEST_DATABASE_URL is not set")
    admin_url = make_url(PG_URL)
    name = f"digest_test_{worker_id}_{uuid.uuid4().hex[:8]}"
    admin = open_engine(admin_url.render_as_string(hide_password=False))
    admin = admin.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    engine = open_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path, sqlite_template):
    """The URL of an empty, migrated database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "digest.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("pg_database_url")
    engine = open_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
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
