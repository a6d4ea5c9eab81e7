"""Runs and recovery: a dead run's claims are recovered at once and lose
nobody; a live run keeps its claims; a run that lost its claims sends nothing."""

from datetime import timedelta

from sqlalchemy import select

from digest.db.schema import editions, runs
from digest.mail.console import ConsoleMailer
from digest.mail.outbox import OutboxMailer
from digest.runs import finish_run, recover_dead_runs
from digest.store import editions as edition_store
from digest.store.subscribers import get_subscriber, suppress, update_subscriber
from tests.pipeline_helpers import (
    DAY1,
    SITE,
    paper_keys_in,
    read_outbox,
    send,
    store,
    subscribe,
    vision_paper,
)
from tests.recovery_helpers import claim_all, deliver, die, hand_over_all

NOW = DAY1 + timedelta(hours=8)
DAY2 = DAY1 + timedelta(days=1)


def leave(engine, address, status):
    with engine.begin() as conn:
        sub = get_subscriber(conn, address)
        update_subscriber(conn, sub.id, sub.prefs, status=status, now=NOW)


def sent(engine) -> set[str]:
    """Every paper counted as sent to anyone."""
    with engine.begin() as conn:
        ids = conn.execute(select(editions.c.subscriber_id).distinct()).scalars().all()
        return set().union(*(edition_store.sent_keys(conn, i) for i in ids))


def rows(engine, table=editions):
    with engine.begin() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table).order_by(table.c[0].name))]


def statuses(engine):
    return sorted(r["status"] for r in rows(engine))


def readers(engine, n):
    for i in range(n):
        subscribe(engine, f"reader{i}@example.org")


def test_a_dead_runs_pending_claims_are_released_at_once_and_sent(engine, tmp_path):
    readers(engine, 3)
    store(engine, [vision_paper(0, DAY1)], DAY1)
    run, _ = claim_all(engine, NOW)
    die(run)
    report = send(engine, tmp_path / "outbox", NOW + timedelta(seconds=1))
    assert report.counts["sent"] == 3 and report.recovered["released"] == 3
    assert statuses(engine) == ["sent"] * 3
    assert [r["outcome"] for r in rows(engine, runs)] == ["recovered", "finished"]


def test_a_live_run_keeps_its_claims_however_long_it_takes(engine, tmp_path):
    readers(engine, 2)
    store(engine, [vision_paper(0, DAY1)], DAY1)
    run, _ = claim_all(engine, NOW)  # alive: holds its lock
    report = send(engine, tmp_path / "outbox", NOW + timedelta(hours=3))
    assert report.counts["sent"] == 0 and statuses(engine) == ["pending", "pending"]
    finish_run(engine, run, None, now=NOW)  # it stops without sending: released
    assert rows(engine) == []


def test_a_kill_while_sending_with_the_outbox_loses_and_doubles_nobody(engine, tmp_path):
    outbox = tmp_path / "outbox"
    readers(engine, 4)
    store(engine, [vision_paper(0, DAY1)], DAY1)
    run, planned = claim_all(engine, NOW)
    hand_over_all(engine, run, planned)
    # Two files were written before the kill, the other two were not.
    mailer = OutboxMailer(outbox, SITE.sender)
    from digest.delivery import render_batch
    from digest.render import CompileCache
    from tests.pipeline_helpers import SECRET

    messages = render_batch(planned, CompileCache(SITE), SECRET)
    assert [o.status for o in mailer.send(messages[:2])] == ["sent", "sent"]
    (outbox / ".tmp" / f"{_host()}-999999999-x.part").write_bytes(b"half a message")
    die(run)
    report = send(engine, outbox, NOW + timedelta(seconds=1))
    assert report.recovered == {"sent": 2, "released": 2}
    assert report.counts["sent"] == 2
    files = sorted(outbox.glob("*.eml"))
    assert len(files) == 4 and len({m["To"] for m in read_outbox(outbox)}) == 4
    assert statuses(engine) == ["sent"] * 4
    assert not list((outbox / ".tmp").iterdir())


def _host():
    from digest.mail.outbox import _host

    return _host()


def test_a_dead_runs_sending_editions_become_unknown_where_the_mailer_cannot_tell(engine, tmp_path):
    readers(engine, 1)
    store(engine, [vision_paper(0, DAY1)], DAY1)
    run, planned = claim_all(engine, NOW, mailer="sendgrid")
    hand_over_all(engine, run, planned)
    die(run)
    counts = recover_dead_runs(engine, OutboxMailer(tmp_path / "o", SITE.sender), now=NOW)
    assert counts == {"unknown": 1}
    (row,) = rows(engine)
    assert row["status"] == "unknown" and "may have been delivered" in row["error"]
    assert sent(engine) == {"2611.14000"}  # maybe delivered: its papers stay sent
    # Not resent by itself ...
    assert send(engine, tmp_path / "outbox", NOW + timedelta(hours=1)).counts["sent"] == 0
    # ... only on purpose, through the normal path, keeping its sent log.
    report = send(engine, tmp_path / "outbox", NOW + timedelta(hours=2), resend_unknown=True)
    assert report.counts["resent"] == 1
    (message,) = read_outbox(tmp_path / "outbox")
    assert paper_keys_in(message) == {"2611.14000"}
    assert statuses(engine) == ["sent"] and sent(engine) == {"2611.14000"}


def test_a_stalled_run_that_lost_its_claims_sends_nothing(engine, tmp_path):
    outbox = tmp_path / "outbox"
    readers(engine, 3)
    store(engine, [vision_paper(0, DAY1)], DAY1)
    stalled, planned = claim_all(engine, NOW)
    die(stalled)  # its database session died while it was suspended
    assert send(engine, outbox, NOW + timedelta(minutes=1)).counts["sent"] == 3
    # The stalled run wakes up and carries on with the batch it claimed.
    counts = deliver(engine, stalled, planned, outbox, NOW)
    assert counts == {"lost": 3}
    assert len(list(outbox.glob("*.eml"))) == 3
    assert statuses(engine) == ["sent"] * 3


def test_a_dead_runs_claims_for_day_d_reach_the_next_days_edition(engine, tmp_path):
    outbox = tmp_path / "outbox"
    readers(engine, 2)
    send(engine, outbox, NOW - timedelta(days=1))  # the day before: an empty edition
    store(engine, [vision_paper(0, DAY1)], DAY1)
    run, _ = claim_all(engine, NOW)  # day D claimed ...
    die(run)  # ... and never sent
    store(engine, [vision_paper(1, DAY2)], DAY2)
    report = send(engine, outbox, NOW + timedelta(days=1))  # day D+1
    assert report.counts["sent"] == 2
    for message in read_outbox(outbox):
        assert paper_keys_in(message) == {"2611.14000", "2611.14001"}


def test_a_claim_released_after_the_next_edition_was_planned_is_not_stranded(engine, tmp_path):
    """A slow run holds day D while the next day's run plans D+1 from it; then
    the slow run fails and releases D. D's papers reach the edition after."""
    outbox = tmp_path / "outbox"
    readers(engine, 1)
    store(engine, [vision_paper(0, DAY1)], DAY1)
    slow, _ = claim_all(engine, NOW)
    store(engine, [vision_paper(1, DAY2)], DAY2)
    assert send(engine, outbox, NOW + timedelta(days=1)).counts["sent"] == 1
    finish_run(engine, slow, None, now=NOW + timedelta(days=1))  # released
    store(engine, [vision_paper(2, DAY2 + timedelta(days=1))], DAY2 + timedelta(days=1))
    assert send(engine, outbox, NOW + timedelta(days=2)).counts["sent"] == 1
    first, second = read_outbox(outbox)
    assert paper_keys_in(first) == {"2611.14001"}
    assert paper_keys_in(second) == {"2611.14000", "2611.14002"}


def test_a_backfill_that_dies_strands_nothing(engine, tmp_path):
    outbox = tmp_path / "outbox"
    readers(engine, 1)
    store(engine, [vision_paper(0, DAY1)], DAY1)
    send(engine, outbox, NOW)  # day D sent
    store(engine, [vision_paper(1, DAY2)], DAY2)
    backfill, planned = claim_all(engine, NOW + timedelta(days=1), on_date=DAY1.date())
    assert planned == []  # D is taken: a backfill of D claims nothing
    die(backfill)
    earlier = (DAY1 - timedelta(days=1)).date()
    backfill, planned = claim_all(engine, NOW + timedelta(days=1), on_date=earlier)
    assert len(planned) == 1 and paper_keys_in_planned(planned[0]) == {"2611.14001"}
    die(backfill)
    assert send(engine, outbox, NOW + timedelta(days=1, hours=1)).counts["sent"] == 1
    assert [paper_keys_in(m) for m in read_outbox(outbox)] == [{"2611.14000"}, {"2611.14001"}]


def paper_keys_in_planned(planned):
    return {p.key for p in planned.digest.papers}


def test_nobody_who_left_is_mailed_on_any_path(engine, tmp_path):
    outbox = tmp_path / "outbox"
    readers(engine, 3)
    store(engine, [vision_paper(0, DAY1)], DAY1)
    run, planned = claim_all(engine, NOW)
    leave(engine, "reader0@example.org", "unsubscribed")
    with engine.begin() as conn:  # an address on the suppression list, whatever its row says
        suppress(conn, "Reader1@example.org", reason="bounce", now=NOW)
    counts = deliver(engine, run, planned, outbox, NOW)
    assert counts == {"sent": 1, "skipped": 2}
    assert [m["To"] for m in read_outbox(outbox)] == ["reader2@example.org"]
    assert statuses(engine) == ["sent"]
    finish_run(engine, run, None, now=NOW)


def test_an_unknown_edition_of_someone_who_left_is_never_resent(engine, tmp_path):
    readers(engine, 1)
    store(engine, [vision_paper(0, DAY1)], DAY1)
    run, planned = claim_all(engine, NOW, mailer="smtp")
    hand_over_all(engine, run, planned)
    die(run)
    recover_dead_runs(engine, ConsoleMailer(SITE.sender), now=NOW)
    leave(engine, "reader0@example.org", "suppressed")
    report = send(engine, tmp_path / "outbox", NOW + timedelta(hours=1), resend_unknown=True)
    assert report.counts["resent"] == 0 and not (tmp_path / "outbox").exists()
    assert statuses(engine) == ["unknown"]


def test_two_recoverers_recover_a_dead_run_once(engine, tmp_path):
    readers(engine, 2)
    store(engine, [vision_paper(0, DAY1)], DAY1)
    run, _ = claim_all(engine, NOW)
    die(run)
    mailer = OutboxMailer(tmp_path / "outbox", SITE.sender)
    assert recover_dead_runs(engine, mailer, now=NOW) == {"released": 2}
    assert recover_dead_runs(engine, mailer, now=NOW) == {}
    assert [(r["id"], r["outcome"]) for r in rows(engine, runs)] == [(run.id, "recovered")]
