"""The shared send-rate ceiling (`DIGEST_SEND_RATE`, recipients per second).

Every sender on one database reserves time from one bucket row before each
provider call: a call of n recipients costs n / rate seconds, starting at the
later of now and the bucket's next free moment. Reservations are made under a
row lock (PostgreSQL `FOR UPDATE`; SQLite's `BEGIN IMMEDIATE`), so concurrent
`digest send` processes queue behind one another and together never start
more than `rate` recipients per second, plus the one call already under way.
The clock is wall time (epoch seconds) because it is shared between processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from digest.store.runs import reserve_slot

BUCKET = "send"


@dataclass
class SendCeiling:
    engine: Engine
    rate: float  # recipients per second; 0 = no ceiling
    clock: Callable[[], float] = field(default=time.time)
    sleep: Callable[[float], None] = field(default=time.sleep)

    def acquire(self, recipients: int) -> float:
        """Wait until `recipients` more may be sent; returns the seconds waited."""
        if self.rate <= 0 or recipients <= 0:
            return 0.0
        now = self.clock()
        with self.engine.begin() as conn:
            start = reserve_slot(conn, BUCKET, cost=recipients / self.rate, now=now)
        wait = start - now
        if wait > 0:
            self.sleep(wait)
        return max(wait, 0.0)
