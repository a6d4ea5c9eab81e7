"""SIGKILL a real `digest send` process (SendGrid mailer, pointed at the fake
server) while the fake holds request k unanswered, then run `digest send`
again at once: everyone has the edition exactly once at the fake server except
the recipients of the one held request, which are `unknown` and listed by
`digest status`; `digest send --resend-unknown` then delivers them. The fake
never accepts the held request, so after the resend everyone has the edition
exactly once. Deterministic: the kill waits for the held request to arrive.
A dropped connection in a real process ends the same way without a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from digest.db.engine import open_engine
from digest.db.schema import editions, subscribers
from tests.cli_helpers import run_digest
from tests.fakes.sendgrid_server import API_KEY, FakeSendGrid
from tests.pipeline_helpers import store, subscribe, vision_paper

SENDER = "Trending Papers <digest@example.org>"
# Four distinct digests (rendering keys), so a run makes four requests; the
# first request (the first subscriber's digest) has three recipients.
GROUPS = [(3, {}), (2, {"max_papers": 2}), (2, {"format": "text"}), (1, {"max_papers": 1})]
READERS = sum(n for n, _ in GROUPS)


def prepare(database_url: str, fake: FakeSendGrid) -> dict[str, str]:
    now = datetime.now(UTC)
    engine = open_engine(database_url)
    store(engine, [vision_paper(n, now - timedelta(hours=3)) for n in range(4)], now)
    for g, (count, prefs) in enumerate(GROUPS):
        for i in range(count):
            subscribe(engine, f"g{g}-{i}@example.org", now=now, **prefs)
    engine.dispose()
    return {
        "DIGEST_CONFIG": "",
        "DIGEST_DATABASE_URL": database_url,
        "DIGEST_MAILER": "sendgrid",
        "DIGEST_SENDGRID_HOST": fake.url,
        "SENDGRID_API_KEY": API_KEY,
        "DIGEST_FROM": SENDER,
        "DIGEST_SECRET_KEY": "crash-test-secret",
        "DIGEST_LOG_LEVEL": "WARNING",
    }


def digest_process(env: dict[str, str], *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def received(fake: FakeSendGrid) -> Counter:
    """How many times each address got a digest at the fake server."""
    return Counter(d.to for d in fake.deliveries())


def edition_rows(database_url: str) -> dict[str, tuple[int, int, str]]:
    """address -> (edition id, subscriber id, status)"""
    engine = open_engine(database_url)
    with engine.begin() as conn:
        query = select(subscribers.c.email, editions.c.id, subscribers.c.id, editions.c.status)
        rows = conn.execute(query.join_from(editions, subscribers)).all()
    engine.dispose()
    return {email: (eid, sid, status) for email, eid, sid, status in rows}


def assert_status_lists_exactly(env, database_url, addresses: set[str]) -> None:
    """`digest status` (text and --json) names each unknown edition, and only those."""
    rows = edition_rows(database_url)
    unknown = {rows[a][0]: rows[a][1] for a in addresses}
    assert {a for a, (_, _, s) in rows.items() if s == "unknown"} == addresses
    report = json.loads(run_digest(["status", "--json"], env).stdout)
    problems = report["delivery"]["problems"]
    assert {p["id"]: p["subscriber_id"] for p in problems} == unknown
    assert {(p["status"], p["mailer"]) for p in problems} == {("unknown", "sendgrid")}
    assert report["delivery"]["problem_counts"] == {"unknown": len(addresses)}
    text = run_digest(["status"], env).stdout
    for eid, sid in unknown.items():
        assert f"edition {eid} subscriber {sid} " in text
    assert f"{len(addresses)} unknown: may or may not have been delivered" in text
    assert "digest send --resend-unknown" in text


@pytest.mark.slow
@pytest.mark.parametrize("k", [1, 2, 3])
def test_a_send_killed_while_request_k_is_held_loses_and_doubles_nobody(database_url, k):
    with FakeSendGrid() as fake:
        env = prepare(database_url, fake)
        hold = fake.hold(k, accept=False)
        victim = digest_process(env, "send", "--now")
        try:
            arrived = hold.arrived.wait(60)
        finally:
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=30)
            hold.release.set()
        assert arrived, victim.stderr.read()
        held = set(hold.recipients)
        if k == 1:
            assert len(held) == 3  # a group of several recipients in the unknown
        assert fake.received == k and len(fake.accepted) == k - 1

        rerun = run_digest(["send", "--now"], env)
        assert rerun.exit_code == 0, rerun.stderr
        assert f"{len(held)} unknown" in rerun.stdout  # recovered first
        everyone = {f"g{g}-{i}@example.org" for g, (n, _) in enumerate(GROUPS) for i in range(n)}
        assert received(fake) == Counter({a: 1 for a in everyone - held})
        assert_status_lists_exactly(env, database_url, held)

        again = run_digest(["send", "--now"], env)  # unknown is never resent by itself
        assert again.exit_code == 0 and "Send: nothing due." in again.stdout

        resent = run_digest(["send", "--now", "--resend-unknown"], env)
        assert resent.exit_code == 0, resent.stderr
        assert f"Send: {len(held)} resent." in resent.stdout
        assert received(fake) == Counter({a: 1 for a in everyone})
        assert {s for _, _, s in edition_rows(database_url).values()} == {"sent"}
        after = json.loads(run_digest(["status", "--json"], env).stdout)
        assert after["delivery"]["problems"] == []


def test_a_dropped_connection_in_a_real_send_is_unknown_listed_and_never_doubled(database_url):
    with FakeSendGrid() as fake:
        env = prepare(database_url, fake)
        fake.fail(2, "drop")  # read, maybe accepted, connection closed unanswered
        sender = digest_process(env, "send", "--now")
        out, err = sender.communicate(timeout=120)
        assert sender.returncode == 1, err  # some editions need the operator's attention
        dropped = set(fake.accepted[1].recipients)
        assert f"{READERS - len(dropped)} sent, {len(dropped)} unknown" in out
        assert received(fake) == Counter({a: 1 for a in edition_rows(database_url)})
        assert_status_lists_exactly(env, database_url, dropped)
        rerun = run_digest(["send", "--now"], env)
        assert rerun.exit_code == 0 and fake.received == 4
        assert max(received(fake).values()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_sigterm_while_a_request_is_in_flight_records_it_and_releases_the_rest(
    database_url, processes
):
    """A service manager stops `digest send` (SIGTERM to its whole process
    group) while the fake holds request 1: that request is answered and
    recorded as sent, no request starts after the stop (one process: none at
    all), nothing is left `unknown` or `sending`, and the command exits 143
    saying so; the next `digest send` sends the rest, everyone exactly once."""
    with FakeSendGrid() as fake:
        env = prepare(database_url, fake)
        hold = fake.hold(1)
        sender = digest_process(
            env, "send", "--now", "--processes", str(processes), start_new_session=True
        )
        try:
            arrived = hold.arrived.wait(60)
            os.killpg(sender.pid, signal.SIGTERM)
            # Past the parent's poll (POLL_SECONDS), which passes a stop to its children.
            time.sleep(1.5)
            started = fake.received
        finally:
            hold.release.set()
            out, err = sender.communicate(timeout=60)
        assert arrived, err
        assert sender.returncode == 128 + signal.SIGTERM, err
        assert "Stopped by SIGTERM" in err and "released" in err
        assert fake.received == started and (processes > 1 or started == 1)
        got = received(fake)
        assert set(hold.recipients) <= set(got) and max(got.values()) == 1
        assert {s for _, _, s in edition_rows(database_url).values()} == {"sent"}

        rerun = run_digest(["send", "--now"], env)
        assert rerun.exit_code == 0, rerun.stderr
        assert f"Send: {READERS - len(got)} sent." in rerun.stdout
        everyone = {f"g{g}-{i}@example.org" for g, (n, _) in enumerate(GROUPS) for i in range(n)}
        assert received(fake) == Counter({a: 1 for a in everyone})
