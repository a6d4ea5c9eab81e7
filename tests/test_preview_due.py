"""`preview --email` plans the period `send` would send (issue 6, item 16 case 2):
after a missed day, that day's period; when today's was already sent, it says
so; `--now` as `send --now`."""

from __future__ import annotations

from datetime import timedelta

from digest.mail.outbox import OutboxMailer
from digest.previews import plan_for_email
from digest.send import SendOptions, run_send
from tests.pipeline_helpers import DAY1, SECRET, SITE, send, store, subscribe, vision_paper

ADA = "ada@example.org"


def dry_run(engine, now, *, force_hour=False):
    options = SendOptions(now=now, force_hour=force_hour, dry_run=True)
    mailer = OutboxMailer("unused", SITE.sender)
    return run_send(engine, mailer, options, site=SITE, secret=SECRET).planned


def preview(engine, now, **kwargs):
    with engine.begin() as conn:
        return plan_for_email(conn, ADA, now=now, on_date=None, retention_days=365, **kwargs)


def test_after_a_missed_day_it_previews_the_period_send_would_send(engine, tmp_path):
    subscribe(engine)  # daily, 07:00 UTC
    store(engine, [vision_paper(n, DAY1) for n in range(2)], DAY1)
    send(engine, tmp_path / "outbox", DAY1 + timedelta(hours=3))  # 2026-11-19 sent
    later = DAY1 + timedelta(days=1, hours=20)
    store(engine, [vision_paper(n, later - timedelta(hours=1)) for n in range(2, 4)], later)
    now = DAY1 + timedelta(days=2, hours=1)  # 06:00 on 11-21: the 11-20 edition was missed
    (planned,) = dry_run(engine, now)
    shown = preview(engine, now)
    assert planned.period == shown.planned.period == "2026-11-20"
    assert shown.note is None
    assert [p.key for p in shown.planned.digest.papers] == [p.key for p in planned.digest.papers]


def test_when_today_was_already_sent_it_says_so(engine, tmp_path):
    subscribe(engine)
    store(engine, [vision_paper(n, DAY1) for n in range(3)], DAY1)
    now = DAY1 + timedelta(hours=3)  # 08:00 UTC on 11-19
    send(engine, tmp_path / "outbox", now, force_hour=False)
    assert dry_run(engine, now + timedelta(hours=1)) == []  # send: nothing due
    shown = preview(engine, now + timedelta(hours=1))
    assert "2026-11-19 edition was already sent" in shown.note
    assert "2026-11-20" in shown.note and "2026-11-20 07:00 UTC" in shown.note
    assert shown.planned.period == "2026-11-20" and not shown.already_sent
    with engine.begin() as conn:
        as_sent = plan_for_email(conn, ADA, now=now, on_date=DAY1.date(), retention_days=365)
    assert as_sent.already_sent and "as it was sent" in as_sent.note
    assert as_sent.planned.digest.paper_count == 3


def test_before_the_hour_it_says_when_the_edition_is_due_and_now_forces_it(engine):
    subscribe(engine, now=DAY1 + timedelta(hours=12))  # joined 11-18 17:00, after its hour
    store(engine, [vision_paper(n, DAY1) for n in range(2)], DAY1)
    now = DAY1  # 05:00 UTC, before the 07:00 delivery hour, first edition
    assert dry_run(engine, now) == []
    shown = preview(engine, now)
    assert shown.planned.period == "2026-11-19" and "Nothing is due yet" in shown.note
    assert "2026-11-19 07:00 UTC" in shown.note
    (forced,) = dry_run(engine, now, force_hour=True)
    now_preview = preview(engine, now, force_hour=True)
    assert now_preview.note is None and now_preview.planned.period == forced.period
