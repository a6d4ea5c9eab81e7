"""Named locks that die with the process holding them.

A send run holds `run:<id>` for as long as it lives; the scheduler holds
`scheduler`. Whoever finds such a lock free knows its holder is gone, because
the database or the operating system releases it when the process dies —
no lease, no clock:

- PostgreSQL: a session advisory lock on a connection kept open for the
  holder's lifetime (released when that session ends).
- SQLite: an exclusive `flock` on a file in `<database>.locks/` beside the
  database (released when the file descriptor closes, including at exit).

`try_lock(engine, name)` returns a `HeldLock` or None when another live process
holds it; `is_held(engine, name)` asks without keeping the lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from pathlib import Path

from sqlalchemy import Connection, Engine, text

SCHEDULER_LOCK = "scheduler"


class HeldLock:
    """A lock this process holds until `release()` (or until it exits)."""

    def __init__(self, name: str, *, conn: Connection | None = None, fd: int | None = None):
        self.name = name
        self._conn = conn
        self._fd = fd

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(self.name)}
                )
            finally:
                self._conn.close()
                self._conn = None
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def inherited(self) -> None:
        """In a process forked while this lock was held: leave the lock to the
        parent. A flock stays held by the parent's descriptor (closing this
        copy does not release it); the session is left untouched (closing it
        here would end the parent's)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fd is not None

    def alive(self) -> bool:
        """Whether the lock is still ours. On PostgreSQL the session holding it can
        be lost (server restart, network); a flock lasts as long as the process."""
        if self._conn is None:
            return self._fd is not None
        try:
            self._conn.execute(text("SELECT 1"))
        except Exception:  # noqa: BLE001 - any driver error means the session is gone
            return False
        return True

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for `name`."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def try_lock(engine: Engine, name: str) -> HeldLock | None:
    """Take the lock `name` without waiting; None when a live process holds it."""
    if engine.dialect.name == "postgresql":
        return _try_pg(engine, name)
    return _try_file(lock_path(engine, name), name)


def is_held(engine: Engine, name: str) -> bool:
    """Whether a live process (this one included) holds `name` right now."""
    lock = try_lock(engine, name)
    if lock is None:
        return True
    lock.release()
    return False


def lock_path(engine: Engine, name: str) -> Path:
    """`<database file>.locks/<name>.lock` (in-memory databases: a temp folder)."""
    database = engine.url.database
    if not database or database == ":memory:":
        base = Path(os.environ.get("TMPDIR", "/tmp")) / f"digest-memory-{os.getpid()}"
    else:
        base = Path(database)
    folder = base.with_name(base.name + ".locks")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / (re.sub(r"[^\w.-]", "_", name) + ".lock")


def _try_pg(engine: Engine, name: str) -> HeldLock | None:
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(name)}).scalar()
    except BaseException:
        conn.close()
        raise
    if not got:
        conn.close()
        return None
    return HeldLock(name, conn=conn)


def _try_file(path: Path, name: str) -> HeldLock | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return HeldLock(name, fd=fd)
