"""The send queue on PostgreSQL, in-process: the tick claims and enqueues in
one transaction, a job takes over and delivers its editions once, a retried
or duplicated job sends nothing again, a dead worker's claims are settled by
the recovery rules and the next tick, orphaned editions are queued again and
stalled jobs retried. (tests/test_send_workers.py runs real worker processes.)"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from digest import jobs
from digest.claims import ClaimOptions
from digest.db.schema import editions
from digest.editions import Planner
from digest.mail.outbox import OutboxMailer
from digest.queued_send import deliver_queued, enqueue_batch
from digest.render import CompileCache
from digest.runs import start_run
from digest.send_queue import TASK, make_app, retry_stalled
from digest.store import editions as edition_store
from digest.store.queued import take_queued
from tests.cli_helpers import run_digest
from tests.pipeline_helpers import DAY1, SECRET, SITE, read_outbox, store, subscribe, vision_paper
from tests.recovery_helpers import die
from tests.scheduler_helpers import job_context

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

NOW = DAY1 + timedelta(hours=8)  # every subscriber's hour has come
READERS = 5


@pytest.fixture
def ctx(database_url, tmp_path):
    config = tmp_path / "digest.toml"
    config.write_text("[queue]\nbatch_size = 2\n")
    context = job_context(
        database_url, tmp_path / "outbox", config=config, DIGEST_SEND_QUEUE="procrastinate"
    )
    engine = context.runtime.engine
    store(engine, [vision_paper(n, DAY1) for n in range(3)], DAY1)
    for i in range(READERS):
        subscribe(engine, f"r{i}@example.org")
    yield context
    context.close()


def queue_jobs(engine) -> list[dict]:
    with engine.begin() as conn:
        rows = conn.execute(
            text("SELECT id, status::text, args FROM procrastinate_jobs ORDER BY id")
        ).all()
    return [{"id": r.id, "status": r.status, "editions": r.args["editions"]} for r in rows]


def statuses(engine) -> Counter:
    with engine.begin() as conn:
        return Counter(conn.execute(select(editions.c.status)).scalars())


def deliver(ctx, ids, outbox):
    return deliver_queued(
        ctx.runtime.engine, OutboxMailer(outbox, SITE.sender), ids, site=SITE, secret=SECRET
    )


def received(outbox) -> Counter:
    return Counter(m["To"] for m in read_outbox(outbox))


def test_a_rolled_back_enqueue_leaves_neither_jobs_nor_claims(ctx):
    engine = ctx.runtime.engine
    run = start_run(engine, now=NOW)
    with engine.begin() as conn:
        planner = Planner.load(conn, now=NOW, retention_days=365)
    options = ClaimOptions(now=NOW, run_id=run.id, force_hour=True, size=10)
    with engine.connect() as conn:
        transaction = conn.begin()
        claimed, ids = enqueue_batch(
            conn, make_app(ctx.runtime.settings.database_url), planner, CompileCache(SITE), options,
            after=0,
        )  # fmt: skip
        assert len(ids) == READERS  # claimed, queued and deferred in this transaction ...
        assert conn.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar() == 1
        transaction.rollback()  # ... and all of it undone
    run.lock.release()
    with engine.begin() as conn:
        assert conn.execute(select(func.count()).select_from(editions)).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar() == 0


def test_the_tick_queues_a_job_per_batch_and_each_job_delivers_once(ctx, tmp_path):
    engine = ctx.runtime.engine
    report = jobs.run_send_tick(ctx, NOW)
    assert report.counts == Counter(queued=READERS, jobs=3)  # batches of 2 subscribers
    assert statuses(engine) == Counter(queued=READERS)
    queued = queue_jobs(engine)
    assert [len(j["editions"]) for j in queued] == [2, 2, 1]
    assert {j["status"] for j in queued} == {"todo"}

    # Queued editions are claimed: the next tick finds nobody due.
    assert jobs.run_send_tick(ctx, NOW + timedelta(minutes=5)).counts == Counter()
    assert len(queue_jobs(engine)) == 3

    status = json.loads(run_digest(["status", "--json"], env_for(ctx)).stdout)
    assert status["queue"]["waiting"] == 3 and status["queue"]["workers"] == []
    assert status["editions"] == {"queued": READERS}
    assert (
        "Send queue (queued for workers): 3 jobs waiting"
        in run_digest(["status"], env_for(ctx)).stdout
    )

    outbox = tmp_path / "sent"
    for job in queued:
        counts = deliver(ctx, job["editions"], outbox)
        assert counts == Counter(taken=len(job["editions"]), sent=len(job["editions"]))
    # The same job again (retried after its worker was taken for dead, or
    # queued twice): nothing left to take, nothing sent.
    assert deliver(ctx, queued[0]["editions"], outbox) == Counter()
    assert received(outbox) == Counter({f"r{i}@example.org": 1 for i in range(READERS)})
    assert statuses(engine) == Counter(sent=READERS)


def test_a_dead_workers_claims_follow_the_recovery_rules_and_nobody_gets_two(ctx, tmp_path):
    engine = ctx.runtime.engine
    jobs.run_send_tick(ctx, NOW)
    first = queue_jobs(engine)[0]["editions"]
    # A worker took the job's two editions over, handed one to the mailer
    # (`sending`, then it died mid-call) and had not reached the other.
    worker = start_run(engine, now=NOW, kind="worker")
    with engine.begin() as conn:
        taken = [row["id"] for row in take_queued(conn, first, run_id=worker.id)]
        edition_store.hand_over(conn, taken[:1], run_id=worker.id)
    die(worker)

    outbox = tmp_path / "sent"
    # The job is retried: it settles the dead run first, then finds nothing
    # of its batch still queued.
    retried = deliver(ctx, first, outbox)
    assert retried == Counter(recovered=2)
    with engine.begin() as conn:
        rows = {r["id"]: r["status"] for r in conn.execute(select(editions)).mappings()}
    assert rows[taken[0]] == "unknown" and taken[1] not in rows  # released
    for job in queue_jobs(engine)[1:]:
        deliver(ctx, job["editions"], outbox)
    # The next tick claims the released edition again and queues it.
    assert jobs.run_send_tick(ctx, NOW + timedelta(minutes=5)).counts == Counter(queued=1, jobs=1)
    deliver(ctx, queue_jobs(engine)[-1]["editions"], outbox)
    assert statuses(engine) == Counter(sent=READERS - 1, unknown=1)
    got = received(outbox)
    assert sum(got.values()) == READERS - 1 and set(got.values()) == {1}


def test_editions_whose_job_ended_without_them_are_queued_again(ctx, tmp_path):
    engine = ctx.runtime.engine
    jobs.run_send_tick(ctx, NOW)
    queued = sorted(i for job in queue_jobs(engine) for i in job["editions"])
    with engine.begin() as conn:  # the operator deleted the jobs, say
        conn.execute(text("DELETE FROM procrastinate_jobs"))
    report = jobs.run_send_tick(ctx, NOW + timedelta(minutes=5))
    assert report.counts == Counter(requeued=READERS)
    again = queue_jobs(engine)  # `batch_size` editions to a job, as queued at first
    assert [len(job["editions"]) for job in again] == [2, 2, 1]
    assert sorted(i for job in again for i in job["editions"]) == queued
    for job in again:
        deliver(ctx, job["editions"], tmp_path / "sent")
    assert statuses(engine) == Counter(sent=READERS)
    assert jobs.run_send_tick(ctx, NOW + timedelta(minutes=10)).counts == Counter()


def test_a_job_whose_worker_stopped_beating_is_retried(ctx):
    engine = ctx.runtime.engine
    jobs.run_send_tick(ctx, NOW)
    app = make_app(ctx.runtime.settings.database_url)

    async def scenario() -> tuple[int, int]:
        async with app.open_async():
            manager = app.job_manager
            worker_id = await manager.register_worker()
            job = await manager.fetch_job(queues=None, worker_id=worker_id)  # now `doing`
            assert await retry_stalled(app, stalled_after=30) == 0  # its worker beats
            with engine.begin() as conn:  # ... then it stops beating
                conn.execute(
                    text("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 h'")
                )
            return job.id, await retry_stalled(app, stalled_after=30)

    job_id, retried = asyncio.run(scenario())
    assert retried == 1
    [job] = [j for j in queue_jobs(engine) if j["id"] == job_id]
    assert job["status"] == "todo"  # back in the queue for another worker
    with engine.begin() as conn:
        assert conn.execute(
            text("SELECT task_name, attempts FROM procrastinate_jobs WHERE id = :i"), {"i": job_id}
        ).one() == (TASK, 1)


def env_for(ctx) -> dict[str, str]:
    settings = ctx.runtime.settings
    return {
        "DIGEST_CONFIG": "",
        "DIGEST_DATABASE_URL": settings.database_url,
        "DIGEST_SECRET_KEY": SECRET,
        "DIGEST_SEND_QUEUE": "procrastinate",
    }
