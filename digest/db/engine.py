"""Engines and migrations.

`open_engine(url)` returns an engine with SQLite made safe for our use (foreign
keys on, WAL, a busy timeout). `upgrade(engine)` runs Alembic to head;
`require_current(engine)` refuses with a clear message when the schema is behind,
so only `digest init` ever changes the schema.

Every command checks the schema, so that check is cheap: it reads
`alembic_version` with plain SQL and finds the head revision by reading the
revision files' `revision`/`down_revision` lines. Alembic itself is imported
only to migrate (or when the revision graph is not a single line).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from digest.locks import lock_key

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"


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
    # In WAL mode NORMAL syncs at checkpoints, not at every commit: a commit
    # survives the process dying (what the send path's recovery is built on),
    # and only a power loss or OS crash can lose the last commits. FULL costs
    # a sync per commit, and sending makes two commits per provider call.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn) -> None:
    # IMMEDIATE takes the write lock at BEGIN (waiting up to the busy timeout).
    # A deferred transaction that reads and then writes fails at once with
    # "database is locked" when another writer got in between, and our
    # transactions are short read-then-write units (claims, merges). One
    # opened by `reading` only reads: deferred, it reads a snapshot and
    # keeps no writer waiting.
    if conn.get_execution_options().get(_READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


_READ_ONLY = "digest_read_only"

# WAL pages a connection lets pile up before it checkpoints them itself once
# another connection checkpoints for it (`checkpoint_elsewhere`): a backstop,
# some 64 MB. SQLite's own default is 1000 pages.
_BACKSTOP_PAGES = 16_384


def checkpoint_elsewhere(engine: Engine) -> None:
    """SQLite connections `engine` opens from now on leave WAL checkpoints to
    another connection (`Checkpointer`), up to `_BACKSTOP_PAGES`. A commit
    that checkpoints copies the WAL's pages into the database file while it
    holds the write lock (about half of a provider call's transaction, at
    1000 pages); a send shared by processes leaves that to its parent, which
    otherwise only waits. Nothing on other databases."""
    if engine.dialect.name != "sqlite":
        return

    def connect(dbapi_connection, _record) -> None:
        dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={_BACKSTOP_PAGES}").fetchall()

    event.listen(engine, "connect", connect)


class Checkpointer:
    """A connection of its own that checkpoints a SQLite database's WAL when
    called (PASSIVE: as far as readers allow, never waiting for a writer or
    holding one up); does nothing on other databases."""

    def __init__(self, engine: Engine) -> None:
        self._raw = engine.raw_connection() if engine.dialect.name == "sqlite" else None

    def __call__(self) -> tuple[int, int, int] | None:
        """SQLite's answer: (1 if it could not start, WAL pages, of them
        now in the database file); None on other databases."""
        if self._raw is None:
            return None
        # Outside any transaction: the driver connection is in autocommit
        # mode (`_sqlite_connect`), and a checkpoint inside one is refused.
        return self._raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None


@contextlib.contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A transaction for reading only: on SQLite it takes no write lock and
    reads a snapshot (a write in it could fail with "database is locked")."""
    with engine.connect() as conn:
        conn.execution_options(**{_READ_ONLY: True})
        with conn.begin():
            yield conn


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


_REVISION = re.compile(r"^revision\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(.+)$", re.M)


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest revision: the one no other revision names as its parent."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN.search(source)
        if revision is None or down is None:
            return _alembic_head()
        revisions.add(revision[1])
        parents.update(re.findall(r"['\"]([^'\"]+)['\"]", down[1]))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else _alembic_head()


def _alembic_head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in the database; None when it has no schema yet."""
    with engine.connect() as conn:
        if not conn.dialect.has_table(conn, VERSION_TABLE):
            return None
        rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
        if len(rows) <= 1:
            return rows[0] if rows else None
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Create or migrate the schema to head; return (revision before, after).
    Runs at once are serialised on PostgreSQL: a second waits, then finds the
    schema at head and does nothing. (On SQLite BEGIN IMMEDIATE does that.)"""
    _current_or_raise(engine)  # reachable, or one clear line
    from alembic import command

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
