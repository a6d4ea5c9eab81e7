"""The send pipeline end to end: database -> selection -> ranking -> render -> outbox."""

from datetime import timedelta

from sqlalchemy import select

from digest.db.schema import editions
from digest.mail.message import build_email, email_bytes
from digest.previews import plan_for_email, preview_message
from tests.pipeline_helpers import (
    DAY1,
    SECRET,
    SITE,
    body_text,
    paper_keys_in,
    read_outbox,
    send,
    store,
    subscribe,
    vision_paper,
)

DAY2 = DAY1 + timedelta(days=1)
DAY3 = DAY1 + timedelta(days=2)


def edition_rows(engine):
    with engine.begin() as conn:
        return [dict(r._mapping) for r in conn.execute(select(editions).order_by(editions.c.id))]


def test_it_sends_each_edition_once_and_never_resends_a_paper(engine, tmp_path):
    outbox = tmp_path / "outbox"
    subscribe(engine)
    store(engine, [vision_paper(n, DAY1) for n in range(3)], DAY1)
    assert send(engine, outbox, DAY1 + timedelta(hours=8)).counts["sent"] == 1
    # A rerun sends nothing twice.
    assert send(engine, outbox, DAY1 + timedelta(hours=9)).counts["sent"] == 0
    # Day 2: a new version of a day-1 paper, the same paper from Hugging Face, and one new paper.
    store(
        engine,
        [
            vision_paper(0, DAY2, version=2, announce="replace"),
            vision_paper(1, DAY2, announce="new", sources=["hf"], upvotes=50, trending_at=DAY2),
            vision_paper(3, DAY2),
        ],
        DAY2,
    )
    assert send(engine, outbox, DAY2 + timedelta(hours=8)).counts["sent"] == 1
    first, second = read_outbox(outbox)
    assert paper_keys_in(first) == {"2611.14000", "2611.14001", "2611.14002"}
    assert paper_keys_in(second) == {"2611.14003"}


def test_it_never_shows_a_sent_paper_again_however_much_it_trends(engine, tmp_path):
    outbox = tmp_path / "outbox"
    subscribe(engine)
    store(engine, [vision_paper(0, DAY1), vision_paper(1, DAY1)], DAY1)
    send(engine, outbox, DAY1 + timedelta(hours=8))
    store(engine, [vision_paper(0, DAY3, upvotes=900, trending_at=DAY3, sources=["hf"])], DAY3)
    store(engine, [vision_paper(2, DAY3)], DAY3)
    send(engine, outbox, DAY3 + timedelta(hours=8))
    messages = read_outbox(outbox)
    assert paper_keys_in(messages[-1]) == {"2611.14002"}


def test_it_sends_nothing_for_an_empty_edition_but_records_it(engine, tmp_path):
    outbox = tmp_path / "outbox"
    subscribe(engine)
    report = send(engine, outbox, DAY1 + timedelta(hours=8))
    assert report.counts["empty"] == 1 and report.counts["sent"] == 0
    assert read_outbox(outbox) == []
    assert [r["status"] for r in edition_rows(engine)] == ["empty"]


def test_it_sends_a_short_note_when_asked_to(engine, tmp_path):
    outbox = tmp_path / "outbox"
    subscribe(engine)
    report = send(engine, outbox, DAY1 + timedelta(hours=8), send_empty=True)
    assert report.counts["sent"] == 1
    (message,) = read_outbox(outbox)
    assert "unsubscribe" in body_text(message).lower()
    assert message["List-Unsubscribe"]


def test_it_releases_an_edition_when_the_write_fails_and_sends_it_next_time(engine, tmp_path):
    subscribe(engine)
    store(engine, [vision_paper(0, DAY1)], DAY1)
    blocked = tmp_path / "outbox"
    blocked.write_text("a file where the outbox directory should be")
    report = send(engine, blocked, DAY1 + timedelta(hours=8))
    assert report.counts["released"] == 1
    assert edition_rows(engine) == []  # released: its papers are not counted as sent
    outbox = tmp_path / "real-outbox"
    assert send(engine, outbox, DAY1 + timedelta(hours=9)).counts["sent"] == 1
    assert paper_keys_in(read_outbox(outbox)[0]) == {"2611.14000"}
    assert not list(tmp_path.glob("real-outbox/.tmp/*"))


def test_preview_is_exactly_what_send_writes(engine, tmp_path):
    outbox = tmp_path / "outbox"
    subscribe(engine)
    store(engine, [vision_paper(n, DAY1) for n in range(4)], DAY1)
    now = DAY1 + timedelta(hours=8)
    with engine.begin() as conn:
        preview = plan_for_email(conn, "ada@example.org", now=now, on_date=None, retention_days=365)
    planned = preview.planned
    previewed = build_email(preview_message(planned, SITE, SECRET), SITE.sender)
    send(engine, outbox, now)
    (sent,) = read_outbox(outbox)
    for message in (previewed, sent):
        del message["Date"]
        del message["Message-ID"]
    assert previewed.get_body(("plain",)).get_content() == sent.get_body(("plain",)).get_content()
    assert previewed.get_body(("html",)).get_content() == sent.get_body(("html",)).get_content()
    assert sorted(previewed.items()) == sorted(sent.items())
    assert email_bytes(previewed)  # serialises
    # After sending, --date of that period shows the edition as it was sent.
    with engine.begin() as conn:
        again = plan_for_email(
            conn,
            "ada@example.org",
            now=now + timedelta(days=1),
            on_date=DAY1.date(),
            retention_days=365,
        ).planned
    assert {p.key for p in again.digest.papers} == paper_keys_in(sent)
    as_sent = build_email(preview_message(again, SITE, SECRET), SITE.sender)
    assert body_text(as_sent) == body_text(sent)


def test_two_concurrent_runs_send_each_edition_once(database_url, tmp_path):
    import threading

    from digest.db.engine import open_engine

    setup = open_engine(database_url)
    for n in range(6):
        subscribe(setup, f"reader{n}@example.org")
    store(setup, [vision_paper(n, DAY1) for n in range(3)], DAY1)
    setup.dispose()
    outbox = tmp_path / "outbox"
    reports = []

    def run():
        engine = open_engine(database_url)
        reports.append(send(engine, outbox, DAY1 + timedelta(hours=8)))
        engine.dispose()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.counts["sent"] for r in reports) == 6
    assert len(read_outbox(outbox)) == 6


def test_a_paper_stamped_just_before_a_claim_but_stored_after_it_still_arrives(engine, tmp_path):
    outbox = tmp_path / "outbox"
    subscribe(engine)
    store(engine, [vision_paper(0, DAY1)], DAY1)
    claim_time = DAY1 + timedelta(hours=8)
    send(engine, outbox, claim_time)
    # A fetch that began a minute before that claim committed only after it.
    store(engine, [vision_paper(1, DAY1)], claim_time - timedelta(minutes=1))
    send(engine, outbox, DAY2 + timedelta(hours=8))
    assert [paper_keys_in(m) for m in read_outbox(outbox)] == [{"2611.14000"}, {"2611.14001"}]


def test_a_new_subscriber_waits_for_their_first_delivery_hour(engine, tmp_path):
    from digest.preferences import Preferences, TopicChoice
    from digest.store.subscribers import add_subscriber

    outbox = tmp_path / "outbox"
    store(engine, [vision_paper(0, DAY1)], DAY1)
    signed_up = DAY1 + timedelta(hours=1)  # 06:00 UTC, before their 07:00 hour
    with engine.begin() as conn:
        prefs = Preferences(topics=[TopicChoice("computer-vision")], timezone="UTC", hour=7)
        add_subscriber(conn, "new@example.org", prefs, status="active", now=signed_up)
    early = send(engine, outbox, signed_up + timedelta(minutes=30), force_hour=False)
    assert early.counts["sent"] == 0 and not outbox.exists()
    on_time = send(engine, outbox, DAY1 + timedelta(hours=2), force_hour=False)
    assert on_time.counts["sent"] == 1


def test_a_paper_published_before_the_retention_period_is_never_sent_again(engine, tmp_path):
    outbox = tmp_path / "outbox"
    subscribe(engine)
    old = vision_paper(0, DAY1, published_at=DAY1)
    store(engine, [old], DAY1)
    send(engine, outbox, DAY1 + timedelta(hours=8), retention_days=30)
    later = DAY1 + timedelta(days=31)
    # The paper trends again a month later, once its edition is past retention.
    store(
        engine, [vision_paper(0, later, published_at=DAY1, upvotes=500, trending_at=later)], later
    )
    send(engine, outbox, later + timedelta(hours=1), retention_days=30)
    assert len(read_outbox(outbox)) == 1
