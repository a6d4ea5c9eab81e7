"""One send shared by several processes (digest.send_processes): every due
edition is claimed once and delivered once, each process is a run of its
own, the children's logs reach the parent, a refused key stops them all and
releases what was not sent, and the outcome matches a single-process send."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from digest.db.schema import editions, runs, subscribers
from digest.mail.base import AuthError
from digest.preferences import Preferences, TopicChoice
from digest.send import SendOptions, run_send
from digest.store.subscribers import add_subscriber
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.pipeline_helpers import (
    DAY1,
    SECRET,
    SITE,
    paper_keys_in,
    read_outbox,
    send,
    store,
    vision_paper,
)
from tests.test_mail_sendgrid import assert_each_recipient_once_and_personal, mailer_for

RUN_AT = DAY1 + timedelta(hours=8)
READERS = 40


def populate(engine, count: int = READERS) -> None:
    """`count` readers with a few different digests (limits, formats, keywords)."""
    store(engine, [vision_paper(n, DAY1 - timedelta(hours=3)) for n in range(8)], DAY1)
    with engine.begin() as conn:
        for i in range(count):
            prefs = Preferences(
                topics=[TopicChoice("computer-vision", max_papers=2 + i % 4)],
                format=("html", "text")[i % 5 == 0],
                keywords=["depth"] if i % 7 == 0 else [],
            )
            add_subscriber(
                conn,
                f"reader{i}@example.org",
                prefs,
                status="active",
                now=DAY1 - timedelta(days=1),
            )


def received(outbox) -> dict[str, set[str]]:
    return {m["To"]: paper_keys_in(m) for m in read_outbox(outbox)}


def test_every_due_edition_goes_out_once_and_as_one_process_would_send_it(engine, tmp_path):
    populate(engine)
    progress: list[tuple[int, int]] = []
    mailer_dir = tmp_path / "shared"
    from digest.mail.outbox import OutboxMailer

    report = run_send(
        engine,
        OutboxMailer(mailer_dir, SITE.sender),
        SendOptions(now=RUN_AT, force_hour=True, processes=3, claim_size=4),
        site=SITE,
        secret=SECRET,
        progress=lambda done, total: progress.append((done, total)),
    )
    assert report.counts["sent"] == READERS
    assert progress[-1] == (READERS, READERS)
    shared = received(mailer_dir)
    assert len(shared) == READERS and len(read_outbox(mailer_dir)) == READERS
    with engine.begin() as conn:
        by_run = Counter(conn.execute(select(editions.c.run_id)).scalars())
        outcomes = Counter(conn.execute(select(runs.c.outcome)).scalars())
    assert sum(by_run.values()) == READERS
    assert outcomes == {"finished": 4}  # the parent and its three children
    # A second shared send finds nothing due; one process on a copy of the
    # day sends the same papers to the same readers.
    assert send(engine, tmp_path / "again", RUN_AT, processes=3).counts["sent"] == 0
    alone = tmp_path / "alone"
    other = _fresh_sqlite(tmp_path)
    populate(other)
    assert send(other, alone, RUN_AT).counts["sent"] == READERS
    other.dispose()
    assert received(alone) == shared


def _fresh_sqlite(tmp_path):
    """An empty migrated SQLite database (the single-process reference)."""
    from digest.db.engine import open_engine, upgrade

    engine = open_engine(f"sqlite:///{tmp_path / 'alone.db'}")
    upgrade(engine)
    return engine


def test_a_process_held_up_leaves_the_rest_of_the_list_to_the_others(engine):
    """The first request is held at the server: the process that sent it
    stops with its first range (two readers) claimed, and the other claims
    and sends everything else; nobody is claimed by both."""
    populate(engine, 12)
    with FakeSendGrid() as fake:
        held = fake.hold(1)
        mailer = mailer_for(fake)
        mailer.group_size = 1  # a request per claimed edition, as it is claimed

        def release_once_the_rest_arrived() -> None:
            deadline = time.monotonic() + 60
            while fake.counts()["received"] < 11 and time.monotonic() < deadline:
                time.sleep(0.02)
            held.release.set()

        threading.Thread(target=release_once_the_rest_arrived, daemon=True).start()
        options = SendOptions(now=RUN_AT, force_hour=True, processes=2, claim_size=2)
        report = run_send(engine, mailer, options, site=SITE, secret=SECRET)
        assert report.counts["sent"] == 12
        assert len(assert_each_recipient_once_and_personal(fake)) == 12
    with engine.begin() as conn:
        by_run = Counter(conn.execute(select(editions.c.run_id)).scalars())
    assert sorted(by_run.values()) == [2, 10]


def test_the_childrens_log_records_reach_the_parents_handlers(engine, tmp_path, caplog):
    populate(engine, 6)
    with caplog.at_level(logging.DEBUG, logger="digest"):
        assert send(engine, tmp_path / "out", RUN_AT, processes=2, claim_size=2).counts["sent"] == 6
    sent = [r for r in caplog.records if r.getMessage().startswith("edition ")]
    assert len(sent) == 6 and all(r.name == "digest.delivery" for r in sent)


def test_a_send_logs_a_line_a_delivery_batch_at_info_and_each_edition_only_at_debug(
    engine, tmp_path, caplog
):
    populate(engine, 12)
    with caplog.at_level(logging.INFO, logger="digest"):
        assert send(engine, tmp_path / "out", RUN_AT, claim_size=5).counts["sent"] == 12
    lines = [r.getMessage() for r in caplog.records if r.name == "digest.delivery"]
    assert lines and not any(line.startswith("edition ") for line in lines)
    batches = [line for line in lines if line.startswith("delivered ")]
    assert len(batches) == len(lines)
    assert sum(int(line.split()[1]) for line in batches) == 12
    assert all(line.endswith(f"sent {line.split()[1]}") for line in batches)


def test_a_refused_key_stops_every_process_and_releases_what_was_not_sent(engine):
    populate(engine, 12)
    with FakeSendGrid() as fake:
        fake.fail(2, "403")
        mailer = mailer_for(fake)
        mailer.group_size = 2
        options = SendOptions(now=RUN_AT, force_hour=True, processes=2, claim_size=3)
        with pytest.raises(AuthError, match="403.*claimed editions released"):
            run_send(engine, mailer, options, site=SITE, secret=SECRET)
        with engine.begin() as conn:
            left = Counter(conn.execute(select(editions.c.status)).scalars())
        assert set(left) <= {"sent"}, left  # nothing pending or sending stays behind
        options = SendOptions(now=RUN_AT, force_hour=True)
        again = run_send(engine, mailer_for(fake), options, site=SITE, secret=SECRET)
        assert again.counts["sent"] + left["sent"] == 12
        assert len(assert_each_recipient_once_and_personal(fake)) == 12


def test_a_process_that_dies_is_recovered_by_the_parent_and_nobody_gets_two(engine):
    """A child is killed while its first request is held at the server: the
    others finish, the parent recovers the dead child's run (its request in
    flight is `unknown`, its other claim released) and reports the failure;
    the next send sends the released edition and nobody else again."""
    populate(engine, 12)
    with FakeSendGrid() as fake:
        held = fake.hold(1)
        mailer = mailer_for(fake)
        mailer.group_size = 1

        def kill_the_held_one() -> None:
            assert held.arrived.wait(30)
            query = (
                select(runs.c.pid)
                .join(editions, editions.c.run_id == runs.c.id)
                .join(subscribers, subscribers.c.id == editions.c.subscriber_id)
                .where(subscribers.c.email == held.recipients[0])
            )
            with engine.begin() as conn:
                os.kill(conn.execute(query).scalar_one(), signal.SIGKILL)

        threading.Thread(target=kill_the_held_one, daemon=True).start()
        options = SendOptions(now=RUN_AT, force_hour=True, processes=2, claim_size=2)
        with pytest.raises(RuntimeError, match="1 of 2 sending processes failed: .*died"):
            run_send(engine, mailer, options, site=SITE, secret=SECRET)
        with engine.begin() as conn:
            assert Counter(conn.execute(select(editions.c.status)).scalars()) == {
                "sent": 10,
                "unknown": 1,
            }
        sent_before = {d.to for d in fake.deliveries()}
        options = SendOptions(now=RUN_AT, force_hour=True)
        again = run_send(engine, mailer_for(fake), options, site=SITE, secret=SECRET)
        assert again.counts["sent"] == 1
        # The held request may or may not count as delivered (it is `unknown`).
        every = assert_each_recipient_once_and_personal(fake)
        assert len(sent_before) in (10, 11) and len(every) == len(sent_before) + 1
