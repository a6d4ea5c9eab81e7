"""Engines and migrations.

`open_engine(url)` returns an engine with SQLite made safe for our use (foreign
keys on, WAL, a busy timeout). `upgrade(engine)` runs Alembic to head;
`require_current(engine)` refuses with a clear message when the schema is behind,
so only `digest init` ever changes the schema.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from digest.locks import lock_key

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaError(Exception):
    """The database is missing, unreachable or not at the current schema."""


BAD_URL = (
    "DIGEST_DATABASE_URL is not a usable database URL "
    "(expected sqlite:///path/to/file.db or postgresql://user@host:5432/dbname)"
)


def open_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        return create_engine(parsed, pool_pre_ping=True)
    except (ArgumentError, ValueError, NoSuchModuleError, ImportError):
        # Never echo the URL: it may carry a password.
        raise SchemaError(BAD_URL) from None


def _sqlite_connect(dbapi_connection, _record) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN (pysqlite's own would be deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin(conn) -> None:
    # IMMEDIATE takes the write lock at BEGIN (waiting up to the busy timeout).
    # A deferred transaction that reads and then writes fails at once with
    # "database is locked" when another writer got in between, and our
    # transactions are short read-then-write units (claims, merges).
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Create or migrate the schema to head; return (revision before, after).
    Runs at once are serialised on PostgreSQL: a second waits, then finds the
    schema at head and does nothing. (On SQLite BEGIN IMMEDIATE does that.)"""
    _current_or_raise(engine)  # reachable, or one clear line
    with _migration_lock(engine):
        before = _current_or_raise(engine)
        command.upgrade(alembic_config(engine), "head")
    return before, head_revision()


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name != "postgresql":
        yield
        return
    key = {"key": lock_key("migrations")}
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), key)
        conn.commit()  # a session lock: no transaction left open while migrating
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), key)
            conn.commit()


def require_current(engine: Engine) -> None:
    current = _current_or_raise(engine)
    head = head_revision()
    if current is None:
        raise SchemaError("the database has no tables yet: run `digest init` first")
    if current != head:
        raise SchemaError(
            f"the database schema is behind ({current} < {head}): run `digest init` to migrate"
        )


def _current_or_raise(engine: Engine) -> str | None:
    try:
        return current_revision(engine)
    except Exception as exc:  # noqa: BLE001 - any driver error means "cannot reach it"
        raise SchemaError(f"cannot open the database {engine.url!r}: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
