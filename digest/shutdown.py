"""Stopping a long-running command cleanly on SIGTERM or SIGINT.

`digest run` and `digest send` install `Signals`: the first signal only sets a
flag, which the command's loops ask between units of work (a send: between
subscribers while claiming, between provider calls while delivering), so the
work in hand is finished and recorded and the rest is left for the next run.
A second signal ends the process at once (exit status 128 + the signal's
number); every write is a transaction, and a provider call cut short is
reconciled by the next send (DESIGN.md, "Runs and recovery").

Processes forked after `install()` inherit the handler, so a signal sent to
the whole process group (a service manager's stop, Ctrl-C in a terminal)
does not kill a send's children before their parent has passed the stop on.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

_NAP = 0.2  # how often a sleep looks at the flag


class Signals:
    """Counts SIGTERM/SIGINT; the second one ends the process at once."""

    def __init__(self) -> None:
        self.received: int | None = None

    def install(self) -> Signals:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, _frame) -> None:
        if self.received is not None:
            os._exit(128 + signum)
        self.received = signum

    def stopping(self) -> bool:
        """Whether a signal has come (a `stop` callable for the send's options)."""
        return self.received is not None

    def name(self) -> str:
        """The signal received ("SIGTERM"), or "" before one has come."""
        return signal.Signals(self.received).name if self.received is not None else ""

    def sleep(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True as soon as a signal has come."""
        interruptible(time.sleep, self.stopping)(seconds)
        return self.stopping()


def asked(stop: Callable[[], bool] | None) -> bool:
    """Whether an optional stop flag (None: there is none) says stop."""
    return stop is not None and stop()


def interruptible(
    sleep: Callable[[float], None], stop: Callable[[], bool] | None
) -> Callable[[float], None]:
    """`sleep`, in naps of at most `_NAP` seconds that end early once `stop`
    says so (the rate ceiling's wait before a provider call, a mailer's
    backoff between tries: up to a minute each). The naps add up to the
    seconds asked, whatever clock `sleep` keeps. `sleep` itself without a stop."""
    if stop is None:
        return sleep

    def nap(seconds: float) -> None:
        while seconds > 0 and not stop():
            step = min(seconds, _NAP)
            sleep(step)
            seconds -= step

    return nap
