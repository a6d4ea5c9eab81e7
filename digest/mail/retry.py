"""Bounded retries with exponential backoff and full jitter, for the mailers
that talk to a provider (SendGrid, SMTP).

Only failures that certainly delivered nothing are retried (the caller decides
which); after `attempts` tries the messages are released for the next run. A
provider that asks us to wait (Retry-After, X-RateLimit-Reset) is obeyed, unless
it asks for longer than `cap`: then the call gives up at once rather than hold
the run for an hour. After a call has given up, the following calls get one try
each until one succeeds, so a provider that is down costs one refused request
per call instead of the whole backoff schedule each time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from digest.shutdown import asked, interruptible


@dataclass
class Backoff:
    attempts: int = 5  # tries per provider call, the first included
    base: float = 1.0  # the longest pause before the second try; doubles each time
    cap: float = 60.0  # the longest pause between two tries
    sleep: Callable[[float], None] = time.sleep
    random: Callable[[], float] = random.random
    clock: Callable[[], float] = time.time
    # The run's stop flag (set by `digest.send.deliveries_for`): asked before
    # and during each pause, and a stop ends the retries (what failed
    # delivered nothing, so it is released rather than left in a pause a
    # service manager's stop timeout may cut short).
    stop: Callable[[], bool] | None = None
    _down: bool = field(default=False, init=False)

    @property
    def tries(self) -> int:
        """Tries the next call may make."""
        return 1 if self._down else max(1, self.attempts)

    def wait(self, attempt: int, hint: float | None = None) -> bool:
        """After failed try number `attempt` (from 1): pause and return True if
        another try is allowed, else return False (and note the provider as
        down). `hint` is the pause the provider asked for, in seconds. False
        at once, or after a pause cut short, once `stop` says so."""
        if asked(self.stop):
            return False
        if attempt >= self.tries or (hint is not None and hint > self.cap):
            self._down = True
            return False
        if hint is not None:
            # A little jitter on top, so senders that were told the same
            # instant do not all come back in the same millisecond.
            pause = max(hint, 0.0) + self.random() * min(self.base, 1.0)
        else:
            pause = self.random() * min(self.cap, self.base * 2 ** (attempt - 1))
        interruptible(self.sleep, self.stop)(pause)
        return not asked(self.stop)

    def succeeded(self) -> None:
        self._down = False
