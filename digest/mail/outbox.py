"""The default mailer: each message becomes one `.eml` file (RFC 5322 bytes).

Files are written to a temporary name and renamed into place, so a crash never
leaves a half-written message in the outbox.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from digest.digests import Message
from digest.mail.base import MailError, Outcome, one_call_each
from digest.mail.message import build_email, email_bytes


class OutboxMailer:
    name = "outbox"

    def __init__(self, directory: Path, sender: str, clock=lambda: datetime.now(UTC)):
        self.directory = Path(directory)
        self.sender = sender
        self.clock = clock

    calls = staticmethod(one_call_each)

    def send(self, batch: Sequence[Message]) -> list[Outcome]:
        """Write each message; a message that could not be written is "released"
        (certainly not delivered), so the next run writes it."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MailError(f"cannot create the outbox {self.directory}: {exc}") from exc
        outcomes = []
        for message in batch:
            path = self.directory / self.filename(message)
            try:
                email = build_email(message, self.sender, date=self.clock())
                write_atomically(path, email_bytes(email))
            except (OSError, ValueError) as exc:
                outcomes.append(Outcome("released", error=f"cannot write {path.name}: {exc}"))
                continue
            outcomes.append(Outcome("sent", message_id=email["Message-ID"]))
        return outcomes

    def filename(self, message: Message) -> str:
        edition = message.period or self.clock().strftime("%Y-%m-%d")
        who = message.subscriber_id if message.subscriber_id is not None else "x"
        stamp = self.clock().strftime("%Y%m%dT%H%M%S%f")
        return re.sub(r"[^\w.\-]", "_", f"{edition}-subscriber-{who}-{stamp}.eml")

    def close(self) -> None:
        pass


def write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".eml")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
