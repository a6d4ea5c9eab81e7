"""Named liveness locks (digest/locks.py) on both databases: held while the
holder lives, free once it is gone, even when it was killed."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

from digest.locks import is_held, try_lock

HOLDER = textwrap.dedent(
    """
    import sys, time
    from digest.db.engine import open_engine
    from digest.locks import try_lock
    lock = try_lock(open_engine(sys.argv[1]), sys.argv[2])
    print("held" if lock else "busy", flush=True)
    time.sleep(60)
    """
)


def test_it_refuses_a_held_lock_and_frees_it_on_release(engine):
    lock = try_lock(engine, "run:1")
    assert lock is not None and is_held(engine, "run:1")
    assert try_lock(engine, "run:1") is None
    assert not is_held(engine, "run:2")
    lock.release()
    assert not lock.held and not is_held(engine, "run:1")
    with try_lock(engine, "run:1") as again:
        assert again is not None


def test_it_frees_the_lock_of_a_killed_process(engine, database_url):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, database_url, "scheduler"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert is_held(engine, "scheduler")
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        holder.kill()
    # flock goes with the process; PostgreSQL ends the session once it sees the
    # socket closed, which can take a moment.
    deadline = time.monotonic() + 10
    while is_held(engine, "scheduler") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_held(engine, "scheduler")
