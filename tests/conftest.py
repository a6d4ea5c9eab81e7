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

from digest.db.engine import open_engine, upgrade
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
