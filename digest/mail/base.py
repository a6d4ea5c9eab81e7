"""The mailer protocol every backend implements (one module per backend).

A batch of rendered `Message`s is delivered as a sequence of provider calls:
`calls(batch)` says how the backend splits it (one outbox file, one SMTP
message, one SendGrid request of up to 1000 recipients), and `send(call)` makes
exactly one provider call and returns one `Outcome` per message, in order.
The send loop moves a call's editions from `pending` to `sending` just before
`send(call)` and records the outcomes just after, so a process that dies leaves
at most one provider call's editions in doubt.

Inside `send` a backend retries failures that certainly delivered nothing (429,
5xx answers, refused connections) within a bounded number of attempts, then
answers "released". It raises `MailError` only when the whole call failed; its
`delivered` says whether anything may have reached the provider, which decides
whether the send loop releases the editions (certainly not delivered), records
them failed (`permanent`), or keeps them as unknown. `AuthError` (the provider
refused the credentials: 401/403, SMTP 535) stops the whole run: everything it
claimed is released.
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


class AuthError(MailError):
    """The provider refused our credentials: nothing can be sent this run.
    Certainly not delivered; the run stops and releases what it claimed."""

    def __init__(self, message: str):
        super().__init__(message, permanent=False, delivered=False)
        self.released = 0  # editions of the refused call, released by the send loop


class Mailer(Protocol):
    name: str

    def calls(self, batch: Sequence[Message]) -> list[list[Message]]:
        """`batch` split into provider calls (every message in exactly one)."""
        ...

    def send(self, call: Sequence[Message]) -> list[Outcome]:
        """One provider call for `call` (one of `calls()`'s groups)."""
        ...

    def close(self) -> None: ...


def one_call_each(batch: Sequence[Message]) -> list[list[Message]]:
    """The split for backends that make one provider call per message."""
    return [[message] for message in batch]


class Reconciler(Protocol):
    """Optional for a mailer: tell, after a crash, whether editions a dead run
    left `sending` with this mailer were delivered. Only a backend that can
    know for certain implements it (the outbox: a file per edition); for the
    others those editions become `unknown` (see `digest.runs`)."""

    def reconcile(self, editions: Sequence[dict]) -> dict[int, str]:
        """{edition id: "sent" | "released"} for editions given as dicts with
        id, subscriber_id and period; an edition left out becomes `unknown`."""
        ...
