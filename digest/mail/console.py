"""Prints each message to a stream (stdout by default): for trying things out."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from digest.digests import Message
from digest.mail.base import Outcome, one_call_each
from digest.mail.message import build_email


class ConsoleMailer:
    name = "console"

    def __init__(self, sender: str, stream=None):
        self.sender = sender
        self.stream = stream or sys.stdout

    calls = staticmethod(one_call_each)

    def send(self, batch: Sequence[Message]) -> list[Outcome]:
        outcomes = []
        for message in batch:
            email = build_email(message, self.sender, date=datetime.now(UTC))
            self.stream.write(email.as_string())
            self.stream.write("\n" + "=" * 72 + "\n")
            outcomes.append(Outcome("sent", message_id=email["Message-ID"]))
        self.stream.flush()
        return outcomes

    def close(self) -> None:
        pass
