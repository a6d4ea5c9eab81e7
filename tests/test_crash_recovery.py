"""SIGKILL `digest send` (a real process, the outbox mailer) at random moments,
then run it again at once: every subscriber has exactly one file, none is
`unknown`, and no temporary file is ever read as a message."""

from __future__ import annotations

import email
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from digest.db.engine import open_engine
from digest.db.schema import editions, subscribers
from tests.pipeline_helpers import store, subscribe, vision_paper

READERS = 100  # 400 took a minute per trial on this shared machine (an fsync per file and commit)


def prepare(database_url: str, tmp_path: Path, readers: int = READERS) -> dict[str, str]:
    now = datetime.now(UTC)
    engine = open_engine(database_url)
    for n in range(readers):
        subscribe(engine, f"reader{n}@example.org", now=now)
    store(engine, [vision_paper(n, now - timedelta(hours=3)) for n in range(4)], now)
    engine.dispose()
    return {
        **os.environ,
        "DIGEST_CONFIG": "",
        "DIGEST_DATABASE_URL": database_url,
        "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox"),
        "DIGEST_SECRET_KEY": "crash-test-secret",
        "DIGEST_LOG_LEVEL": "WARNING",
    }


def digest_send(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "send", "--now", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_after(process: subprocess.Popen, outbox: Path, files: int) -> None:
    """SIGKILL the process once `files` messages are in the outbox (or it ended)."""
    while process.poll() is None and _count(outbox) < files:
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def _count(outbox: Path) -> int:
    try:
        return sum(1 for name in os.listdir(outbox) if name.endswith(".eml"))
    except FileNotFoundError:
        return 0


def assert_one_message_each(database_url: str, outbox: Path, readers: int = READERS) -> None:
    recipients = []
    for path in outbox.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert message.get_body(("plain",)) is not None, path.name  # a whole message
        recipients.append(message["To"])
    assert len(recipients) == readers
    assert len(set(recipients)) == readers
    assert not list((outbox / ".tmp").glob("*"))
    engine = open_engine(database_url)
    with engine.begin() as conn:
        states = dict(
            conn.execute(select(editions.c.status, func.count()).group_by(editions.c.status)).all()
        )
        assert conn.execute(select(func.count()).select_from(subscribers)).scalar() == readers
    engine.dispose()
    assert states == {"sent": readers}


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_killed_send_rerun_at_once_sends_everyone_exactly_once(database_url, tmp_path, seed):
    env = prepare(database_url, tmp_path)
    outbox = tmp_path / "outbox"
    kill_after(digest_send(env), outbox, random.Random(seed).randrange(0, READERS))
    rerun = digest_send(env)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    assert_one_message_each(database_url, outbox)
