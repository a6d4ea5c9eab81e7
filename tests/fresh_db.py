"""Fresh, unmigrated databases: for tests that need to watch a schema being built
(migrations, copying into a new database). The shared `database_url` fixture
hands out databases already migrated to head."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from digest.db.engine import open_engine, upgrade

PG_URL = os.environ.get("DIGEST_TEST_DATABASE_URL")


@contextlib.contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database on `backend` ("sqlite" or "postgresql"),
    dropped afterwards. Skips the test when PostgreSQL is not configured."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / f'fresh-{uuid.uuid4().hex[:8]}.db'}"
        return
    with postgres_database("digest_fresh") as url:
        yield url


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database named `<prefix>_<random>`, dropped
    afterwards (its sessions ended). Skips when PostgreSQL is not configured."""
    if not PG_URL:
        pytest.skip("DIGEST_TEST_DATABASE_URL is not set")
    admin_url = make_url(PG_URL)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = open_engine(admin_url.render_as_string(hide_password=False))
    admin = admin.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def migrated_postgres(prefix: str) -> Iterator[Engine]:
    """An engine on a new PostgreSQL database (`postgres_database`) migrated to
    head, disposed of and the database dropped afterwards."""
    with postgres_database(prefix) as url:
        engine = open_engine(url)
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()
