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


# A run that moved its whole batch to `sending`, wrote some files and was in the
# middle of the next one (its temporary file half written) when it was killed.
KILLED_WHILE_SENDING = """
import os, sys, time
from datetime import UTC, datetime
from pathlib import Path
from digest.db.engine import open_engine
from digest.delivery import render_batch
from digest.mail.outbox import TMP_DIR, OutboxMailer, _host
from digest.render import CompileCache
from tests.pipeline_helpers import SECRET, SITE
from tests.recovery_helpers import claim_all, hand_over_all
engine = open_engine(sys.argv[1])
outbox, written = Path(sys.argv[2]), int(sys.argv[3])
run, planned = claim_all(engine, datetime.now(UTC))
hand_over_all(engine, run, planned)
mailer = OutboxMailer(outbox, SITE.sender)
mailer.send(render_batch(planned, CompileCache(SITE), SECRET)[:written])
(outbox / TMP_DIR).mkdir(parents=True, exist_ok=True)
(outbox / TMP_DIR / f"{_host()}-{os.getpid()}-half.part").write_bytes(b"From: half a")
print("ready", flush=True)
time.sleep(600)
"""


@pytest.mark.slow
@pytest.mark.parametrize("written", [0, 11])
def test_a_kill_while_sending_with_the_outbox_leaves_one_file_each(database_url, tmp_path, written):
    readers = 30
    env = prepare(database_url, tmp_path, readers)
    outbox = tmp_path / "outbox"
    root = Path(__file__).resolve().parent.parent
    victim = subprocess.Popen(
        [sys.executable, "-c", KILLED_WHILE_SENDING, database_url, str(outbox), str(written)],
        env=env,
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert victim.stdout.readline().strip() == "ready"
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    assert _count(outbox) == written
    rerun = digest_send(env)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err
    assert f"Send: {readers - written} sent." in out
    assert_one_message_each(database_url, outbox, readers)


@pytest.mark.slow
def test_a_killed_send_of_400_subscribers_rerun_at_once_sends_everyone_exactly_once(
    database_url, tmp_path
):
    """The size of the trials measured on main (400 subscribers, outbox, UTC):
    one kill at a random moment in the second half, then a rerun at once."""
    readers = 400
    env = prepare(database_url, tmp_path, readers)
    outbox = tmp_path / "outbox"
    kill_after(digest_send(env), outbox, random.Random(400).randrange(readers // 2, readers))
    rerun = digest_send(env)
    out, err = rerun.communicate(timeout=900)
    assert rerun.returncode == 0, err
    assert_one_message_each(database_url, outbox, readers)
