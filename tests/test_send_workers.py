"""Scale-out for real: PostgreSQL, three `digest worker` processes and the
local SendGrid server. The scheduler's send tick (run here, in-process)
queues 5,000 editions in jobs of 250; the workers share them. While the fake
server holds one request unanswered, the worker that sent it is SIGKILLed.
Its job is retried by a surviving worker once its heartbeat is stale, the
claims it had not handed over are released and queued again by the next
tick, and in the end every subscriber has the edition exactly once, except
the recipients of the held request (never accepted by the fake): `unknown`,
listed by `digest status`, not sent twice. The workers keep to the shared
rate ceiling together.

Deterministic: the kill waits for the held request to arrive, the victim is
the process whose run holds those editions, and every wait polls the
database with a deadline (none is a timed assertion).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from digest import jobs
from digest.db.engine import open_engine
from digest.db.schema import editions, runs, subscribers
from digest.preferences import Preferences, TopicChoice
from digest.store.subscribers import prefs_to_row
from tests.cli_helpers import run_digest
from tests.fakes.sendgrid_server import API_KEY, FakeSendGrid
from tests.pipeline_helpers import DAY1, store, vision_paper
from tests.scheduler_helpers import job_context

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

READERS = 5000
BATCH = 250  # subscribers per job: 20 jobs, two digests (html, text) each
HELD = 9  # the request the fake holds: mid-run
RATE = 2000  # recipients per second, all workers together
STALLED_AFTER = 5  # seconds without a heartbeat before a worker's job is retried
NOW = DAY1 + timedelta(hours=8)  # everyone's delivery hour has come
DEADLINE = 240  # seconds any one wait may take before the test gives up


def seed(engine) -> None:
    """5,000 active subscribers to one topic, alternately html and text, and
    a small pool of papers: every job holds two distinct digests."""
    store(engine, [vision_paper(n, DAY1) for n in range(4)], DAY1)
    joined = DAY1 - timedelta(days=1)
    rows = [
        prefs_to_row(
            Preferences(
                topics=[TopicChoice("computer-vision")], format="text" if i % 2 else "html"
            )
        )
        | {"email": f"r{i}@example.org", "status": "active", "created_at": joined,
           "confirmed_at": joined}
        for i in range(READERS)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(subscribers.insert(), rows)


def environment(database_url: str, fake: FakeSendGrid, config) -> dict[str, str]:
    return {
        "DIGEST_CONFIG": str(config),
        "DIGEST_DATABASE_URL": database_url,
        "DIGEST_SEND_QUEUE": "procrastinate",
        "DIGEST_MAILER": "sendgrid",
        "DIGEST_SENDGRID_HOST": fake.url,
        "SENDGRID_API_KEY": API_KEY,
        "DIGEST_FROM": "Trending Papers <digest@example.org>",
        "DIGEST_SECRET_KEY": "workers-test-secret",
        "DIGEST_SEND_RATE": str(RATE),
        "DIGEST_LOG_LEVEL": "WARNING",
    }


def start_worker(env: dict[str, str], log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "worker", "--concurrency", "1"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )


def wait_for(engine, what: str, check) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        with engine.begin() as conn:
            if check(conn):
                return
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


def scalar(conn, sql: str) -> int:
    return conn.execute(text(sql)).scalar()


def drained(conn) -> bool:
    """No job waiting or running, no edition queued or on its way."""
    live = scalar(conn, "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo','doing')")
    moving = scalar(
        conn, "SELECT count(*) FROM editions WHERE status IN ('queued', 'pending', 'sending')"
    )
    return live == 0 and moving == 0


def runner_pid(engine, addresses: set[str]) -> int:
    """The process whose run holds the editions of `addresses`."""
    with engine.begin() as conn:
        query = (
            select(runs.c.pid)
            .join(editions, editions.c.run_id == runs.c.id)
            .join(subscribers, subscribers.c.id == editions.c.subscriber_id)
            .where(subscribers.c.email.in_(addresses))
            .distinct()
        )
        [pid] = conn.execute(query).scalars().all()
    return pid


def test_three_workers_deliver_5000_once_through_a_sigkill(database_url, tmp_path):
    engine = open_engine(database_url)
    seed(engine)
    config = tmp_path / "digest.toml"
    config.write_text(f'[queue]\nbatch_size = {BATCH}\nstalled_after = "{STALLED_AFTER}s"\n')
    with FakeSendGrid() as fake:
        env = environment(database_url, fake, config)
        hold = fake.hold(HELD, accept=False)
        ctx = job_context(database_url, tmp_path / "outbox", config=config, **env)
        logs = [open(tmp_path / f"worker-{n}.log", "w") for n in range(3)]  # noqa: SIM115
        workers = [start_worker(env, log) for log in logs]
        victim = None
        try:
            wait_for(
                engine,
                "three workers",
                lambda c: scalar(c, "SELECT count(*) FROM procrastinate_workers") == 3,
            )
            # The tick runs beside the workers, which start on its first
            # batches while it claims the rest.
            with ThreadPoolExecutor(1) as background:
                tick = background.submit(jobs.run_send_tick, ctx, NOW)
                # The kill must come before the mailer's read timeout ends the
                # held call by itself.
                assert hold.arrived.wait(DEADLINE), "the held request never came"
                held = set(hold.recipients)
                victim = next(w for w in workers if w.pid == runner_pid(engine, held))
                victim.send_signal(signal.SIGKILL)
                victim.wait(timeout=30)
                hold.release.set()  # answered 503 to nobody: SendGrid never took it
                first = tick.result(timeout=DEADLINE)
            assert first.counts == Counter(queued=READERS, jobs=READERS // BATCH)

            wait_for(engine, "the queue to drain", drained)
            with engine.begin() as conn:
                released = READERS - scalar(conn, "SELECT count(*) FROM editions")
            # The next tick queues the dead job's unsent claims (released by the
            # recovery) and nobody else: everyone else's period is claimed.
            second = jobs.run_send_tick(ctx, NOW + timedelta(minutes=5))
            assert second.counts == (Counter(queued=released, jobs=1) if released else Counter())
            wait_for(engine, "the queue to drain again", drained)

            everyone = {f"r{i}@example.org" for i in range(READERS)}
            got = Counter(d.to for d in fake.deliveries())
            assert got == Counter({address: 1 for address in everyone - held})
            assert_status(env, engine, held)
            assert_the_dead_job_was_retried(engine, held)
            assert_workers_shared_and_kept_to_the_rate(engine, fake, workers)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=60)
            ctx.close()
    for log in logs:
        log.close()
    said = [(tmp_path / f"worker-{n}.log").read_text() for n in range(3)]
    survivors = [w for w in workers if w is not victim]
    assert [w.returncode for w in survivors] == [0, 0], said
    engine.dispose()


def assert_status(env, engine, held: set[str]) -> None:
    """`digest status` lists exactly the held request's editions as unknown,
    an empty queue and the two workers still beating."""
    with engine.begin() as conn:
        states = Counter(conn.execute(select(editions.c.status)).scalars())
    assert states == Counter(sent=READERS - len(held), unknown=len(held))
    report = json.loads(run_digest(["status", "--json"], env).stdout)
    assert report["delivery"]["problem_counts"] == {"unknown": len(held)}
    assert {p["status"] for p in report["delivery"]["problems"]} == {"unknown"}
    queue = report["queue"]
    assert (queue["waiting"], queue["running"]) == (0, 0)
    assert len(queue["workers"]) == 2  # the killed one stopped beating
    shown = run_digest(["status"], env).stdout
    assert "Send queue (queued for workers): 0 jobs waiting, 0 running" in shown
    assert f"workers seen in the last {STALLED_AFTER}s: 2" in shown


def assert_the_dead_job_was_retried(engine, held: set[str]) -> None:
    with engine.begin() as conn:
        held_ids = conn.execute(
            select(editions.c.id)
            .join(subscribers, subscribers.c.id == editions.c.subscriber_id)
            .where(subscribers.c.email.in_(held))
        ).scalars()
        one = next(iter(held_ids))
        status, retries = conn.execute(
            text(
                "SELECT j.status::text, count(e.id) FILTER (WHERE e.type = 'deferred_for_retry')"
                " FROM procrastinate_jobs j JOIN procrastinate_events e ON e.job_id = j.id"
                " WHERE j.args -> 'editions' @> to_jsonb(CAST(:id AS bigint)) GROUP BY j.id"
            ),
            {"id": one},
        ).one()
    assert (status, retries) == ("succeeded", 1)  # retried once, by a surviving worker


def assert_workers_shared_and_kept_to_the_rate(engine, fake, workers) -> None:
    with engine.begin() as conn:
        pids = set(conn.execute(select(runs.c.pid).where(runs.c.kind == "worker")).scalars())
    assert pids <= {w.pid for w in workers} and len(pids) >= 2
    # Every call reserved len/RATE seconds of the one bucket before it started,
    # so the calls, whoever made them, are spread at least that far apart.
    calls = sorted(fake.accepted, key=lambda a: a.at)
    reserved = sum(len(a.recipients) for a in calls[:-1])
    assert calls[-1].at - calls[0].at >= reserved / RATE - 0.25
