"""Claimed editions gathered into delivery batches (DESIGN.md "Grouping").

A mailer that sends one request per distinct digest (SendGrid: up to 1000
recipients each) says so with a `group_size` attribute. Its editions are then
held per rendering key and a key's editions are delivered together once
`group_size` of them are waiting, or at the end of the run, so a run makes
one request per distinct digest plus one per further `group_size`, however
the subscribers are ordered. `hold_limit` caps how many claimed editions may
wait (memory, and time spent claimed): past it everything waiting goes out.
Other mailers get plain batches of `size` in claim order. A held edition's
digest must not change (the digest keeps its rendering key once made).
"""

from __future__ import annotations

from collections.abc import Iterator

from digest.editions import Planned

# Editions held at most. A held edition costs a few hundred bytes (its plan
# and subscriber; digests are shared and compiled only when their group goes
# out), so a run can hold a large list whole and send each digest in as few
# requests as its readers need: the popular ones fill their 1,000 early, the
# rare ones wait for the end of the list.
HOLD_LIMIT = 100_000


class Batches:
    def __init__(self, size: int, group_size: int = 0, hold_limit: int = HOLD_LIMIT) -> None:
        self.size = size
        self.group_size = group_size
        self.hold_limit = max(hold_limit, group_size)
        self._waiting: dict[object, list[Planned]] = {}
        self._count = 0

    def add(self, planned: Planned) -> list[list[Planned]]:
        """Take a claimed edition; return the batches now ready to deliver."""
        key = planned.digest.rendering_key() if self.group_size else None
        bucket = self._waiting.setdefault(key, [])
        bucket.append(planned)
        self._count += 1
        limit = self.group_size or self.size
        if len(bucket) >= limit:
            self._count -= len(bucket)
            del self._waiting[key]
            return [bucket]
        if self._count >= self.hold_limit:
            return self.rest()
        return []

    def rest(self) -> list[list[Planned]]:
        """Everything still waiting, in batches of at most `group_size` (or
        `size`). A key's editions are never split more than they must be;
        small groups share a batch (the mailer still sends them apart)."""
        out: list[list[Planned]] = []
        current: list[Planned] = []
        step = self.group_size or self.size
        for bucket in self._waiting.values():
            for chunk in self._chunks(bucket):
                if current and len(current) + len(chunk) > step:
                    out.append(current)
                    current = []
                current.extend(chunk)
        if current:
            out.append(current)
        self._waiting.clear()
        self._count = 0
        return out

    def _chunks(self, bucket: list[Planned]) -> Iterator[list[Planned]]:
        step = self.group_size or self.size
        for start in range(0, len(bucket), step):
            yield bucket[start : start + step]
