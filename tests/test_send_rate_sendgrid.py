"""The shared rate ceiling measured where it matters: at the (fake) SendGrid
server, with two real `digest send` processes on one PostgreSQL database."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from digest.db.engine import open_engine
from tests.fakes.sendgrid_server import API_KEY, FakeSendGrid
from tests.pipeline_helpers import store, subscribe, vision_paper

RATE = 50  # recipients (messages) per second, both processes together
PAPERS = 20
PER_DIGEST = 10  # recipients per distinct digest: one request of 10 each
# 20 lengths x 2 formats = 40 distinct digests, 400 messages in 40 requests.
DIGESTS = [(n, fmt) for n in range(1, PAPERS + 1) for fmt in ("html", "text")]


def prepare(database_url: str, fake: FakeSendGrid) -> dict[str, str]:
    now = datetime.now(UTC)
    engine = open_engine(database_url)
    store(engine, [vision_paper(n, now - timedelta(hours=3)) for n in range(PAPERS)], now)
    for d, (max_papers, fmt) in enumerate(DIGESTS):
        for i in range(PER_DIGEST):
            address = f"d{d}-{i}@example.org"
            subscribe(engine, address, now=now, max_papers=max_papers, format=fmt)
    engine.dispose()
    return {
        **os.environ,
        "DIGEST_CONFIG": "",
        "DIGEST_DATABASE_URL": database_url,
        "DIGEST_MAILER": "sendgrid",
        "DIGEST_SENDGRID_HOST": fake.url,
        "SENDGRID_API_KEY": API_KEY,
        "DIGEST_FROM": "Trending Papers <digest@example.org>",
        "DIGEST_SECRET_KEY": "rate-test-secret",
        "DIGEST_LOG_LEVEL": "WARNING",
        "DIGEST_SEND_RATE": str(RATE),
    }


@pytest.mark.slow
def test_two_sendgrid_senders_together_stay_within_50_messages_a_second(pg_database_url):
    """Two `digest send` processes, DIGEST_SEND_RATE=50, 400 messages in 40
    requests of 10, measured from the times the fake server received them.

    The bucket (digest.send_rate) has no stored-up burst: a request of n
    recipients reserves n/50 s starting at the later of now and the end of the
    previous reservation, whichever process made it. So the requests arriving
    in any second carry at most 50 recipients plus the one request that starts
    last in that second (10). Tolerance: 0.5 s of scheduling and HTTP delay,
    which can bunch a late request with the next one (another 25 recipients
    per second at most), so each one-second window may hold 50 + 10 + 25.

    Both processes claim everyone before sending (SendGrid's grouping holds a
    run's editions until the end), so they send at the same time: with a
    bucket per process instead they would send about 100 a second, the whole
    run would last about 4 s instead of at least 7.3 s, and both checks fail
    (measured here: shared, 8.0 s and at most 61 in a second; per process,
    4.3 s and 109 in a second).
    """
    with FakeSendGrid() as fake:
        env = prepare(pg_database_url, fake)
        senders = [
            subprocess.Popen(
                [sys.executable, "-m", "digest", "send", "--now"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outs = []
        for sender in senders:
            out, err = sender.communicate(timeout=600)
            assert sender.returncode == 0, err
            outs.append(out)
        arrivals = sorted((a.at, len(a.recipients)) for a in fake.accepted)
    total = len(DIGESTS) * PER_DIGEST
    assert sum(n for _, n in arrivals) == total
    assert len({d.to for d in fake.deliveries()}) == total  # each once
    assert all("sent" in out for out in outs)  # both processes did send
    assert fake.received == len(arrivals)  # no 429s or retries in the way
    first, (last, last_size) = arrivals[0][0], arrivals[-1]
    slack = 0.5
    assert last - first >= (total - last_size) / RATE - slack
    biggest = max(n for _, n in arrivals)
    for i, (start, _) in enumerate(arrivals):
        in_second = sum(n for at, n in arrivals[i:] if at < start + 1)
        assert in_second <= RATE + biggest + RATE * slack, (i, in_second)
