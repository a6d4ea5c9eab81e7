"""Prints each message to a stream (stdout by default), for trying things out.

What a person wants to read: the headers that matter, then the plain-text part
decoded (not the quoted-printable bytes a mail server would get), and the size
of the HTML part (use `digest preview --format html` to see it).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

from digest.digests import Message
from digest.mail.base import Outcome, one_call_each
from digest.mail.message_template import EmailCache

SHOWN_HEADERS = ("From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe")
RULE = "=" * 72


def readable(email: EmailMessage) -> str:
    """Headers and decoded text of one message."""
    lines = [f"{name}: {email[name]}" for name in SHOWN_HEADERS if email[name] is not None]
    lines.append("")
    text = email.get_body(("plain",))
    if text is not None:
        lines.append(text.get_content().replace("\r\n", "\n").rstrip("\n"))
    html = email.get_body(("html",))
    if html is not None:
        size = len(html.get_content().encode("utf-8"))
        lines += ["", f"[text/html part: {size:,} bytes, not shown]"]
    return "\n".join(lines)


class ConsoleMailer:
    name = "console"

    def __init__(self, sender: str, stream=None):
        self.sender = sender
        self.stream = stream or sys.stdout
        self.emails = EmailCache(sender)

    calls = staticmethod(one_call_each)

    def send(self, batch: Sequence[Message]) -> list[Outcome]:
        outcomes = []
        for message in batch:
            # The bytes the other mailers would send, read back.
            message_id, data = self.emails.email(message, date=datetime.now(UTC))
            self.stream.write(readable(message_from_bytes(data, policy=policy.default)))
            self.stream.write(f"\n{RULE}\n")
            outcomes.append(Outcome("sent", message_id=message_id))
        self.stream.flush()
        return outcomes

    def close(self) -> None:
        pass
