"""The mailer protocol every backend implements (one module per backend).

`send(batch)` takes rendered `Message`s and returns one `Outcome` per message,
in order. A backend raises `MailError` only when the whole batch failed; its
`delivered` says whether anything may have reached the provider, which decides
whether the send loop releases the editions (certainly not delivered), records
them failed (`permanent`), or keeps them as unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from digest.digests import Message

Status = Literal["sent", "failed", "unknown", "released"]


@dataclass
class Outcome:
    status: Status
    message_id: str | None = None
    error: str | None = None


class MailError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, delivered: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.delivered = delivered


class Mailer(Protocol):
    name: str

    def send(self, batch: Sequence[Message]) -> list[Outcome]: ...

    def close(self) -> None: ...
