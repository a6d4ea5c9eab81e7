"""The real `digest run` process: second-level schedules, feeds served on
loopback, the outbox mailer. A digest appears; SIGTERM ends it with status 0;
a restart sends nothing twice; a second process waits as a standby and takes
over when the first is killed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from digest.preferences import TopicChoice
from tests.cli_helpers import run_digest
from tests.fakes.http_server import Reply
from tests.scheduler_helpers import add_active, editions_of

SAMPLES = Path(__file__).resolve().parent.parent / "digest" / "samples"
TOPICS = [TopicChoice("computer-vision"), TopicChoice("nlp"), TopicChoice("large-language-models")]

pytestmark = pytest.mark.slow


def todays_feeds(server) -> None:
    """Serve the bundled samples as if announced two hours ago."""
    announced = datetime.now(UTC) - timedelta(hours=2)
    rss = (SAMPLES / "arxiv-2026-11-19.xml").read_text(encoding="utf-8")
    rss = re.sub(r"Thu, 19 Nov 2026 \d\d:\d\d:\d\d [+-]\d{4}", format_datetime(announced), rss)
    hf = (SAMPLES / "hf-2026-11-19.json").read_text(encoding="utf-8")
    hf = hf.replace("2026-11-19T", announced.strftime("%Y-%m-%dT"))
    server.script("/rss", Reply(200, rss.encode(), {"Content-Type": "application/rss+xml"}))
    server.script(
        "/api/daily_papers", Reply(200, hf.encode(), {"Content-Type": "application/json"})
    )


def write_config(tmp_path: Path, server) -> Path:
    config = tmp_path / "digest.toml"
    config.write_text(
        f"""
[scheduler]
send_every = "1s"
housekeeping = "every 3s"
standby_poll = "1s"

[[sources]]
name = "arxiv"
kind = "arxiv-rss"
url = "{server.url("/rss")}"
schedule = "every 1s"

[[sources]]
name = "hf"
kind = "hf-daily"
url = "{server.url("/api/daily_papers")}"
schedule = "every 2s"
"""
    )
    return config


class Process:
    """One `digest run`, its JSON log lines read from a file."""

    def __init__(self, tmp_path: Path, name: str, env: dict[str, str], config: Path):
        self.log_path = tmp_path / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "digest", "--config", str(config), "run"],
            env={**os.environ, **env},
            cwd=tmp_path,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def lines(self) -> list[dict]:
        found = []
        for raw in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                found.append(json.loads(raw))
            except ValueError:
                found.append({"message": raw, "level": "RAW"})
        return found

    def job_runs(self, job: str) -> list[dict]:
        return [line for line in self.lines() if line.get("job") == job]

    def said(self, text: str) -> bool:
        return any(text in line.get("message", "") for line in self.lines())

    def stop(self, signum=signal.SIGTERM, timeout: float = 10) -> int:
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def wait_for(condition, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def outbox_files(outbox: Path) -> list[Path]:
    return sorted(outbox.glob("*.eml")) if outbox.exists() else []


@pytest.fixture
def setup(database_url, engine, tmp_path, server):
    todays_feeds(server)
    config = write_config(tmp_path, server)
    outbox = tmp_path / "outbox"
    env = {
        "DIGEST_DATABASE_URL": database_url,
        "DIGEST_MAILER": "outbox",
        "DIGEST_OUTBOX_DIR": str(outbox),
        "DIGEST_SECRET_KEY": "test-secret-key",
        "DIGEST_LOG_FORMAT": "json",
        "DIGEST_CONFIG": "",
    }
    started: list[Process] = []

    def start(name: str) -> Process:
        process = Process(tmp_path, name, env, config)
        started.append(process)
        return process

    def subscribe_after_first_fetches(process: Process) -> None:
        """Sign someone up once the scheduler's fetches have stored papers (their
        local hour, 00:00 UTC, has passed, so their edition is due at once)."""
        for job in ("fetch:arxiv", "fetch:hf"):
            wait_for(lambda job=job: process.job_runs(job), what=f"a logged {job}")
        joined = datetime.now(UTC) - timedelta(days=2)
        add_active(engine, "ada@example.org", joined=joined, topics=TOPICS, timezone="UTC", hour=0)

    yield start, outbox, env, subscribe_after_first_fetches
    for process in started:
        process.kill()


def test_digest_run_sends_stops_on_sigterm_and_sends_nothing_twice_after_a_restart(setup, engine):
    start, outbox, _, subscribe = setup
    first = start("first")
    subscribe(first)
    wait_for(lambda: outbox_files(outbox), what="a digest in the outbox")
    assert first.stop() == 0  # SIGTERM: finishes the running job, exits 0
    assert first.said("scheduler stopped")
    sends = first.job_runs("send")
    assert any(run["counts"].get("sent") == 1 and run["outcome"] == "ok" for run in sends)
    fetch = first.job_runs("fetch:arxiv")[0]
    assert fetch["outcome"] == "ok" and fetch["counts"]["fetched"] == 45
    assert {"job", "outcome", "duration_s", "counts"} <= set(fetch)

    second = start("second")
    wait_for(lambda: len(second.job_runs("send")) >= 3, what="three send ticks after the restart")
    assert second.stop() == 0
    assert all(not run["counts"].get("sent") for run in second.job_runs("send"))
    assert len(outbox_files(outbox)) == 1
    assert [e["status"] for e in editions_of(engine)] == ["sent"]


def test_a_second_digest_run_waits_as_standby_and_takes_over_when_the_first_is_killed(
    setup, engine
):
    start, outbox, env, subscribe = setup
    active = start("active")
    wait_for(lambda: active.said("scheduler started"), what="the first scheduler to start")
    standby = start("standby")
    wait_for(lambda: standby.said("standby: another scheduler holds the lock"), what="standby")
    subscribe(active)
    wait_for(lambda: outbox_files(outbox), what="a digest in the outbox")
    wait_for(lambda: len(active.job_runs("send")) >= 3, what="a few send ticks")
    assert not [line for line in standby.lines() if "job" in line]  # only one schedules
    status = run_digest(["status"], env)
    assert f"pid {active.pid} since" in status.stdout and "Scheduler: running" in status.stdout

    active.kill()  # SIGKILL: no chance to tidy up
    wait_for(lambda: standby.said("took over the scheduler lock"), timeout=60, what="takeover")
    wait_for(lambda: len(standby.job_runs("send")) >= 3, what="send ticks by the new scheduler")
    status = run_digest(["status"], env)
    assert f"pid {standby.pid} since" in status.stdout and "Scheduler: running" in status.stdout
    assert standby.stop() == 0
    assert len(outbox_files(outbox)) == 1  # no edition sent twice
    assert [e["status"] for e in editions_of(engine)] == ["sent"]
    assert all(not run["counts"].get("sent") for run in standby.job_runs("send"))
