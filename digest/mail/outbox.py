"""The default mailer: each message becomes one `.eml` file (RFC 5322 bytes).

A digest's file is named by its edition (`<period>-subscriber-<id>-edition-<id>.eml`),
so the name is known before the file exists and `reconcile` is a lookup: after
a crash, an edition left `sending` was delivered exactly when its file exists.
Files are written under `.tmp/` (a hidden folder nothing reads as messages),
fsynced and renamed into place, so the outbox only ever holds whole messages;
temporary files left by processes that died are removed when a mailer starts.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from digest.digests import Message
from digest.mail.base import MailError, Outcome, one_call_each
from digest.mail.message_template import EmailCache

TMP_DIR = ".tmp"
# Temporary files of the previous naming scheme, in the outbox itself.
OLD_TMP_GLOB = ".tmp-*.eml"


class OutboxMailer:
    name = "outbox"

    def __init__(self, directory: Path, sender: str, clock=lambda: datetime.now(UTC)):
        self.directory = Path(directory)
        self.sender = sender
        self.clock = clock
        self.emails = EmailCache(sender)  # MIME once per distinct digest
        clean_temporary_files(self.directory)

    calls = staticmethod(one_call_each)

    def send(self, batch: Sequence[Message]) -> list[Outcome]:
        """Write each message; a message that could not be written is "released"
        (certainly not delivered), so the next run writes it."""
        try:
            (self.directory / TMP_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MailError(f"cannot create the outbox {self.directory}: {exc}") from exc
        outcomes = []
        for message in batch:
            path = self.directory / self.filename(message)
            try:
                message_id, data = self.emails.email(message, date=self.clock())
                write_atomically(path, data)
            except (OSError, ValueError) as exc:
                outcomes.append(Outcome("released", error=f"cannot write {path.name}: {exc}"))
                continue
            outcomes.append(Outcome("sent", message_id=message_id))
        return outcomes

    def reconcile(self, editions: Sequence[dict]) -> dict[int, str]:
        """For editions a dead run left `sending` (dicts with id, subscriber_id,
        period): "sent" when the file exists, else "released"."""
        return {
            e["id"]: "sent"
            if (
                self.directory / edition_filename(e["period"], e["subscriber_id"], e["id"])
            ).exists()
            else "released"
            for e in editions
        }

    def filename(self, message: Message) -> str:
        if message.edition_id is not None and message.period:
            return edition_filename(message.period, message.subscriber_id, message.edition_id)
        # Not an edition (a one-off message): a unique name by time.
        who = message.subscriber_id if message.subscriber_id is not None else "x"
        stamp = self.clock().strftime("%Y%m%dT%H%M%S%f")
        return _safe(f"{message.period or 'message'}-subscriber-{who}-{stamp}.eml")

    def close(self) -> None:
        pass


def edition_filename(period: str, subscriber_id: int | None, edition_id: int) -> str:
    return _safe(f"{period}-subscriber-{subscriber_id}-edition-{edition_id}.eml")


def _safe(name: str) -> str:
    return re.sub(r"[^\w.\-]", "_", name)


def write_atomically(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all: a temporary file in `.tmp/` beside it
    (named by host and process, so cleanup knows whose it is), fsynced, renamed."""
    tmp_dir = path.parent / TMP_DIR
    tmp_dir.mkdir(exist_ok=True)
    prefix = f"{_host()}-{os.getpid()}-"
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=prefix, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def clean_temporary_files(directory: Path) -> int:
    """Remove temporary files whose writer on this host is gone (a live
    writer's are left alone), and old-style `.tmp-*.eml` files older than a
    minute. Returns how many were removed."""
    removed = 0
    for part in (directory / TMP_DIR).glob(f"{_host()}-*.part"):
        pid = _writer_pid(part.name)
        if pid is not None and not _alive(pid):
            with contextlib.suppress(OSError):
                part.unlink()
                removed += 1
    for old in directory.glob(OLD_TMP_GLOB):
        with contextlib.suppress(OSError):
            if time.time() - old.stat().st_mtime > 60:
                old.unlink()
                removed += 1
    return removed


def _host() -> str:
    return _safe(socket.gethostname()).replace("-", "_")


def _writer_pid(name: str) -> int | None:
    parts = name.split("-")
    if len(parts) < 3 or not parts[1].isdigit():
        return None
    return int(parts[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
