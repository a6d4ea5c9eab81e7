"""The SendGrid mailer against a local server that speaks the v3 Mail Send
contract (tests/fakes/sendgrid_server.py), through the real `sendgrid` client:
grouping, faults, unknowns, a refused key, and whole `digest send` runs."""

from __future__ import annotations

import json
import random
import re
import socket
import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from digest.db.schema import editions
from digest.digests import Digest, Entry, Recipient, Section
from digest.mail.base import AuthError
from digest.mail.retry import Backoff
from digest.mail.sendgrid import (
    SendGridMailer,
    _filled_json,
    encoded_body,
    pause_hint,
    request_body,
)
from digest.preferences import Preferences, TopicChoice
from digest.render import CompileCache, compile_digest, personalize
from digest.send import SendOptions, run_send
from digest.store.subscribers import add_subscriber
from digest.tokens import link_urls
from tests.cli_helpers import run_digest
from tests.fakes.sendgrid_server import API_KEY, FakeSendGrid
from tests.pipeline_helpers import DAY1, SECRET, SITE, store, vision_paper
from tests.test_render import HOSTILE, make_paper, sample_digest

SENDER = "Trending Papers <digest@example.org>"
RUN_AT = DAY1 + timedelta(hours=2)


@pytest.fixture
def fake():
    with FakeSendGrid() as server:
        yield server


def mailer_for(fake, *, key=API_KEY, timeout=5.0, pauses=None, **options) -> SendGridMailer:
    sleep = (lambda s: pauses.append(s)) if pauses is not None else (lambda s: None)
    backoff = Backoff(sleep=sleep, random=random.Random(7).random)
    return SendGridMailer(key, SENDER, host=fake.url, timeout=timeout, backoff=backoff, **options)


def messages(count, *, digest=None, names=None, compiled=None):
    compiled = compiled or compile_digest(digest or sample_digest(4), SITE)
    out = []
    for i in range(count):
        unsubscribe, preferences = link_urls(SITE.base_url, SECRET, i + 1, f"reader{i}@example.org")
        name = names[i] if names else f"Reader {i}"
        recipient = Recipient(i + 1, f"reader{i}@example.org", unsubscribe, preferences, name)
        message = personalize(compiled, recipient)
        message.edition_id = 1000 + i
        out.append(message)
    return out


def populate(engine, groups, now=DAY1):
    """`groups`: (how many, Preferences) per distinct digest; returns the ids."""
    store(engine, [vision_paper(n, now - timedelta(hours=3)) for n in range(5)], now)
    ids = []
    with engine.begin() as conn:
        for g, (count, prefs) in enumerate(groups):
            for i in range(count):
                ids.append(
                    add_subscriber(
                        conn,
                        f"g{g}-{i}@example.org",
                        prefs,
                        status="active",
                        now=now - timedelta(days=1),
                    )
                )
    return ids


def vision(**prefs):
    return Preferences(topics=[TopicChoice("computer-vision")], **prefs)


def run(engine, mailer, now=RUN_AT):
    return run_send(engine, mailer, SendOptions(now=now, force_hour=True), site=SITE, secret=SECRET)


def states(engine) -> Counter:
    with engine.begin() as conn:
        return Counter(conn.execute(select(editions.c.status)).scalars())


def assert_each_recipient_once_and_personal(fake):
    deliveries = fake.deliveries()
    assert len({d.to for d in deliveries}) == len(deliveries), "somebody got two digests"
    for d in deliveries:
        assert "%%DIGEST_" not in d.text and "%%DIGEST_" not in (d.html or "")
        unsubscribe = d.headers["List-Unsubscribe"].strip("<>")
        assert unsubscribe in d.text and (d.html is None or unsubscribe in d.html)
        assert d.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert d.headers["List-Id"].startswith("Trending Papers Digest <")
        assert d.custom_args["delivery_id"].isdigit() and d.categories == ["digest"]
    return deliveries


# The mailer on its own ---------------------------------------------------


def test_it_sends_one_request_per_digest_with_each_recipients_values(fake):
    batch = messages(3)
    mailer = mailer_for(fake)
    calls = mailer.calls(batch)
    assert [len(c) for c in calls] == [3]
    outcomes = mailer.send(calls[0])
    assert [o.status for o in outcomes] == ["sent"] * 3
    [accepted] = fake.accepted
    assert {o.message_id for o in outcomes} == {accepted.message_id}
    body = accepted.body
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert "%%DIGEST_UNSUBSCRIBE_URL_HTML%%" in body["content"][1]["value"]
    assert body["tracking_settings"]["click_tracking"]["enable"] is False
    assert body["tracking_settings"]["open_tracking"]["enable"] is False
    assert [p["custom_args"] for p in body["personalizations"]] == [
        {"delivery_id": "1000"}, {"delivery_id": "1001"}, {"delivery_id": "1002"}
    ]  # fmt: skip
    for delivery, message in zip(assert_each_recipient_once_and_personal(fake), batch, strict=True):
        assert (delivery.to, delivery.subject) == (message.to, message.subject)
        assert (delivery.text, delivery.html) == (message.text, message.html)


def test_a_digest_assembled_from_fragments_goes_out_with_its_html_escaped_once(fake):
    """A digest assembled from a run's fragments carries its HTML already
    JSON-escaped (`Template.html_json`, spliced into the request): the
    request is exactly the JSON of `request_body`, hostile and non-ASCII
    feed text included, and every recipient gets the HTML."""
    title = HOSTILE + ' naïve "quotes" \\ back/slash 𝔼[x] 🚀 ünïcödé'
    paper = make_paper(1, title=title, authors=[title], abstract=title, ai_summary=title)
    digest = Digest(
        "2026-11-22", date(2026, 11, 22), "daily", [Section("x", title, [Entry(paper)])]
    )
    compiled = CompileCache(SITE).get(digest)
    assert compiled.template.html_json is not None
    batch = messages(3, compiled=compiled)
    assert json.loads(encoded_body(batch, SENDER)) == request_body(batch, SENDER)
    assert [o.status for o in mailer_for(fake).send(batch)] == ["sent"] * 3
    assert fake.accepted[0].body == request_body(batch, SENDER)
    for delivery, message in zip(assert_each_recipient_once_and_personal(fake), batch, strict=True):
        assert (delivery.text, delivery.html) == (message.text, message.html)


def test_a_single_message_of_an_escaped_template_goes_out_filled_and_escaped_once(fake):
    """A digest with one reader: the request's html is the template's escaped
    html filled with the reader's values, each escaped on its own (quotes,
    non-ASCII and a value that looks like JSON included): exactly the JSON of
    `request_body`, whose html is the message's filled one."""
    title = HOSTILE + ' naïve "quotes" \\ back/slash 𝔼[x] 🚀'
    paper = make_paper(1, title=title, authors=[title], abstract=title, ai_summary=title)
    digest = Digest(
        "2026-11-22", date(2026, 11, 22), "daily", [Section("x", title, [Entry(paper)])]
    )
    compiled = CompileCache(SITE, json_html=True).get(digest)
    assert compiled.template.html_json is not None
    for name in ("", 'Zoë "Z" \\ <b>', '{"a": "\\u2028"}\u2028'):
        [message] = messages(1, compiled=compiled, names=[name])
        assert _filled_json(compiled.template.html_json, message.substitutions) is not None
        assert json.loads(encoded_body([message], SENDER)) == request_body([message], SENDER)
        assert json.loads(encoded_body([message], SENDER))["content"][1]["value"] == message.html
    assert [o.status for o in mailer_for(fake).send([message])] == ["sent"]
    [delivery] = assert_each_recipient_once_and_personal(fake)
    assert (delivery.text, delivery.html) == (message.text, message.html)


def test_it_sends_text_only_digests_without_html(fake):
    digest = sample_digest(3)
    digest.format = "text"
    mailer = mailer_for(fake)
    assert [o.status for o in mailer.send(messages(2, digest=digest))] == ["sent", "sent"]
    assert [c["type"] for c in fake.accepted[0].body["content"]] == ["text/plain"]
    assert all(d.html is None for d in fake.deliveries())


def test_it_sends_apart_what_substitutions_cannot_carry(fake):
    batch = messages(4, names=["Ada", "%%DIGEST_EMAIL%%", "Bob", "Cy"])
    mailer = mailer_for(fake)
    calls = mailer.calls(batch)
    assert [[m.to for m in c] for c in calls] == [
        ["reader0@example.org", "reader2@example.org", "reader3@example.org"],
        ["reader1@example.org"],
    ]
    for call in calls:
        mailer.send(call)
    assert "substitutions" not in fake.accepted[1].body["personalizations"][0]
    by_to = {d.to: d for d in fake.deliveries()}
    for message in batch:
        assert (by_to[message.to].text, by_to[message.to].html) == (message.text, message.html)
    tight = mailer_for(fake, substitutions_limit=100)
    assert [len(c) for c in tight.calls(batch)] == [1, 1, 1, 1]


def test_it_splits_groups_at_1000_and_never_repeats_an_address_in_a_request(fake):
    batch = messages(1001)
    mailer = mailer_for(fake)
    assert [len(c) for c in mailer.calls(batch)] == [1000, 1]
    twin = messages(1)[0]
    twin.to = "READER0@example.org"
    assert [len(c) for c in mailer.calls([*batch[:3], twin])] == [3, 1]


def test_it_retries_429_and_5xx_with_backoff_honouring_the_reset_time(fake):
    fake.fail(1, "429")
    fake.fail(2, "503")
    fake.fail(3, "500")
    pauses: list[float] = []
    outcomes = mailer_for(fake, pauses=pauses).send(messages(2))
    assert [o.status for o in outcomes] == ["sent", "sent"]
    assert fake.answers == [429, 503, 500, 202]
    assert len(pauses) == 3 and pauses[0] >= 0
    assert pause_hint({"Retry-After": "7"}, now=0) == 7
    assert pause_hint({"X-RateLimit-Reset": "1000"}, now=990) == 10
    assert pause_hint({}, now=0) is None


def test_it_releases_after_bounded_attempts(fake):
    fake.faults = lambda number: "503"
    pauses: list[float] = []
    mailer = mailer_for(fake, pauses=pauses)
    outcomes = mailer.send(messages(2))
    assert [o.status for o in outcomes] == ["released", "released"]
    assert "503" in outcomes[0].error and fake.received == 5 and len(pauses) == 4
    assert pauses == sorted(pauses) or max(pauses) <= 8  # full jitter under a growing cap
    # The provider is down: the next call gets one try, not the whole schedule.
    mailer.send(messages(1))
    assert fake.received == 6


def test_it_releases_when_the_connection_is_refused():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pauses: list[float] = []
    backoff = Backoff(attempts=3, sleep=pauses.append)
    mailer = SendGridMailer(API_KEY, SENDER, host=f"http://127.0.0.1:{port}", backoff=backoff)
    outcomes = mailer.send(messages(1))
    assert outcomes[0].status == "released" and "cannot reach SendGrid" in outcomes[0].error
    assert len(pauses) == 2


@pytest.mark.parametrize("fault", ["drop", "slow"])
def test_an_answer_that_never_comes_is_unknown_and_not_retried(fake, fault):
    fake.fail(1, fault)
    outcomes = mailer_for(fake, timeout=0.3).send(messages(3))
    assert [o.status for o in outcomes] == ["unknown"] * 3
    assert "not retried" in outcomes[0].error
    assert fake.received == 1


def test_it_fails_only_the_personalizations_sendgrid_rejects(fake):
    batch = messages(3)
    batch[1].to = "nobody@localhost"  # no dot in the domain: SendGrid says invalid
    outcomes = mailer_for(fake).send(batch)
    assert [o.status for o in outcomes] == ["sent", "failed", "sent"]
    assert "personalizations.1.to.0.email" in outcomes[1].error
    assert "valid address" in outcomes[1].error
    assert fake.answers == [400, 202]
    assert [d.to for d in fake.deliveries()] == ["reader0@example.org", "reader2@example.org"]


@pytest.mark.parametrize(
    ("key", "fault", "fragment"), [("SG.wrong", None, "401"), (API_KEY, "403", "403")]
)
def test_a_refused_key_raises_auth_error_with_one_line_and_never_the_key(
    fake, key, fault, fragment
):
    if fault:
        fake.fail(1, fault)
    with pytest.raises(AuthError) as caught:
        mailer_for(fake, key=key).send(messages(1))
    line = str(caught.value)
    assert fragment in line and "SENDGRID_API_KEY" in line and "\n" not in line
    assert key not in line and not fake.accepted


# Whole runs ------------------------------------------------------------------


@pytest.mark.slow
def test_a_run_makes_one_request_per_distinct_digest_plus_one_per_extra_1000(engine, fake):
    populate(
        engine,
        [
            (1001, vision()),
            (4, vision(max_papers=2)),
            (3, vision(format="text")),
            (2, vision(max_papers=1)),
        ],
    )
    report = run(engine, mailer_for(fake))
    assert report.counts["sent"] == 1010
    # 4 distinct rendering keys, and the first group has one extra 1000.
    assert fake.received == 5
    assert sorted(len(a.body["personalizations"]) for a in fake.accepted) == [1, 2, 3, 4, 1000]
    deliveries = assert_each_recipient_once_and_personal(fake)
    assert len(deliveries) == 1010
    with engine.begin() as conn:
        rows = conn.execute(select(editions.c.id, editions.c.message_id, editions.c.status)).all()
    by_id = {d.custom_args["delivery_id"]: d.message_id for d in deliveries}
    assert {(str(r.id), r.message_id) for r in rows} == set(by_id.items())
    assert {r.status for r in rows} == {"sent"}


def test_with_10_percent_of_requests_failing_every_digest_goes_out_once(engine, fake):
    # Small groups (three per request) make many requests for few subscribers.
    ids = populate(
        engine, [(60, vision()), (30, vision(max_papers=2)), (30, vision(format="text"))]
    )
    # Every tenth request fails, in turn 429, 500 and 503 (retries count too).
    kinds = ["429", "500", "503"]
    fake.faults = lambda n: kinds[(n // 10) % 3] if n % 10 == 0 else None
    mailer = mailer_for(fake)
    mailer.group_size = 3
    report = run(engine, mailer)
    assert report.counts["sent"] == len(ids)
    assert Counter(fake.answers) == Counter({202: 40, 500: 2, 503: 1, 429: 1})
    assert len(assert_each_recipient_once_and_personal(fake)) == len(ids)
    assert states(engine) == Counter(sent=len(ids))


def test_a_dropped_connection_leaves_that_request_unknown_and_sends_nothing_twice(engine, fake):
    populate(engine, [(3, vision()), (2, vision(max_papers=2)), (2, vision(format="text"))])
    fake.fail(2, "drop")
    report = run(engine, mailer_for(fake, timeout=2))
    dropped = fake.accepted[1]
    assert report.counts == Counter(sent=5, unknown=len(dropped.recipients))
    with engine.begin() as conn:
        unknown = conn.execute(select(editions.c.id).where(editions.c.status == "unknown"))
        assert {str(i) for i in unknown.scalars()} == {
            p["custom_args"]["delivery_id"] for p in dropped.body["personalizations"]
        }
    again = run(engine, mailer_for(fake), now=RUN_AT + timedelta(minutes=5))
    assert again.counts["sent"] == 0 and fake.received == 3
    assert_each_recipient_once_and_personal(fake)


def test_a_wrong_key_stops_digest_send_and_a_rerun_with_the_right_key_delivers(
    database_url, fake, tmp_path
):
    from digest.db.engine import open_engine

    engine = open_engine(database_url)
    ids = populate(engine, [(3, vision()), (2, vision(max_papers=2))], now=datetime.now(UTC))
    env = {
        "DIGEST_DATABASE_URL": database_url,
        "DIGEST_MAILER": "sendgrid",
        "DIGEST_SENDGRID_HOST": fake.url,
        "DIGEST_FROM": SENDER,
        "SENDGRID_API_KEY": "SG.wrong-key-123",
    }
    wrong = run_digest(["send", "--now"], env)
    assert wrong.exit_code == 1
    assert len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
    assert "SENDGRID_API_KEY" in wrong.stderr and "401" in wrong.stderr
    assert "SG.wrong-key-123" not in wrong.stderr + wrong.stdout
    assert not fake.accepted and "sent" not in states(engine)
    right = run_digest(["send", "--now"], {**env, "SENDGRID_API_KEY": API_KEY})
    assert right.exit_code == 0, right.stderr
    assert f"{len(ids)} sent" in right.stdout
    assert fake.received == 1 + 2  # the refused request, then one per distinct digest
    assert len(assert_each_recipient_once_and_personal(fake)) == len(ids)
    assert states(engine) == Counter(sent=len(ids))
    engine.dispose()


def test_it_names_a_missing_api_key_and_wires_the_host_and_key_file(database_url, tmp_path):
    from digest.config import load_settings
    from digest.wiring import make_mailer

    env = {"DIGEST_DATABASE_URL": database_url, "DIGEST_MAILER": "sendgrid"}
    result = run_digest(["send", "--now"], env)
    assert result.exit_code == 1 and "SENDGRID_API_KEY: required" in result.stderr
    key_file = tmp_path / "key"
    key_file.write_text("SG.from-a-file\n")
    eu = "https://api.eu.sendgrid.com"
    settings = load_settings(
        environ={**env, "SENDGRID_API_KEY_FILE": str(key_file), "DIGEST_SENDGRID_HOST": eu}
    )
    mailer = make_mailer(settings)
    assert mailer.client.host == eu and mailer.client.client.timeout == 30.0
    assert mailer.client.client.request_headers["Authorization"] == "Bearer SG.from-a-file"


def test_a_key_refused_mid_run_releases_every_claimed_edition_not_sent(engine, fake):
    populate(engine, [(3, vision()), (1, vision(max_papers=2)), (1, vision(format="text"))])
    fake.fail(2, "403")
    mailer = mailer_for(fake)
    mailer.group_size = 2  # the first two of the first group go out before the refusal
    with pytest.raises(AuthError, match="403.*3 claimed editions released"):
        run(engine, mailer)
    assert states(engine) == Counter(sent=2)
    again = run(engine, mailer_for(fake), now=RUN_AT + timedelta(minutes=1))
    assert again.counts["sent"] == 3
    assert len(assert_each_recipient_once_and_personal(fake)) == 5


def test_the_fake_server_rejects_what_sendgrid_rejects(fake):
    from python_http_client.exceptions import HTTPError
    from sendgrid import SendGridAPIClient

    client = SendGridAPIClient(API_KEY, host=fake.url).client
    good = {
        "from": {"email": "digest@example.org"},
        "subject": "Hi",
        "content": [
            {"type": "text/plain", "value": "x"},
            {"type": "text/html", "value": "<p>x</p>"},
        ],
        "personalizations": [{"to": [{"email": "a@example.org"}]}],
    }
    assert client.mail.send.post(request_body=good).status_code == 202
    person = {"to": [{"email": "a@example.org"}]}
    for change, field in [
        ({"from": {}}, "from"),
        ({"subject": ""}, "subject"),
        ({"content": good["content"][::-1]}, "content"),
        ({"personalizations": []}, "personalizations"),
        (
            {"personalizations": [{"to": [{"email": f"r{i}@example.org"}]} for i in range(1001)]},
            "personalizations",
        ),
        ({"personalizations": [person, person]}, "personalizations.1.to.0.email"),
        (
            {"personalizations": [{**person, "substitutions": {"-k-": "v" * 10_000}}]},
            "personalizations.0.substitutions",
        ),
        (
            {"personalizations": [{**person, "headers": {"Subject": "x"}}]},
            "personalizations.0.headers",
        ),
    ]:
        with pytest.raises(HTTPError) as caught:
            client.mail.send.post(request_body={**good, **change})
        assert caught.value.status_code == 400
        assert field in [e["field"] for e in caught.value.to_dict["errors"]], field
    assert len(fake.accepted) == 1


def test_a_call_mixing_digests_is_refused_before_anything_is_sent(fake):
    from digest.mail.base import MailError

    other = sample_digest(2)
    with pytest.raises(MailError) as caught:
        mailer_for(fake).send([*messages(1), *messages(1, digest=other)])
    assert not caught.value.delivered and fake.received == 0


def test_a_stopped_send_releases_what_it_holds_instead_of_sending_it(engine, fake):
    """SIGTERM under `digest run`: with SendGrid a send may hold up to 100,000
    claims; it releases them (fast) rather than deliver them all before it
    can stop. The next run sends them."""
    populate(engine, [(3, vision()), (2, vision(max_papers=2))])
    asked = iter(range(100))
    options = SendOptions(now=RUN_AT, force_hour=True, claim_size=2, stop=lambda: next(asked) >= 3)
    report = run_send(engine, mailer_for(fake), options, site=SITE, secret=SECRET)
    assert report.counts == {"released": 3}
    assert fake.counts()["received"] == 0 and states(engine) == Counter()
    again = run(engine, mailer_for(fake), now=RUN_AT + timedelta(minutes=5))
    assert again.counts["sent"] == 5
    assert len(assert_each_recipient_once_and_personal(fake)) == 5


def test_a_stop_while_the_groups_go_out_ends_the_send_after_the_call_in_flight(engine, fake):
    """Claiming done, the held groups going out one request each: a stop that
    comes while the first request is in flight lets that request be recorded
    (sent), makes no further request, and releases the rest for the next run."""
    populate(engine, [(3, vision()), (2, vision(max_papers=2)), (1, vision(max_papers=1))])
    stop = threading.Event()
    fake.faults = lambda number: stop.set()  # SIGTERM while request 1 is on its way
    options = SendOptions(now=RUN_AT, force_hour=True, stop=stop.is_set)
    report = run_send(engine, mailer_for(fake), options, site=SITE, secret=SECRET)
    first = len(fake.accepted[0].recipients)
    assert fake.counts()["received"] == 1
    assert report.counts == {"sent": first, "released": 6 - first}
    assert states(engine) == Counter({"sent": first})  # nothing sending, pending or unknown
    again = run(engine, mailer_for(fake), now=RUN_AT + timedelta(minutes=5))
    assert again.counts == {"sent": 6 - first}
    assert len(assert_each_recipient_once_and_personal(fake)) == 6


def test_a_stop_cuts_short_the_rate_ceilings_wait_and_makes_no_further_call(engine, fake):
    """At one recipient a second, the second request must wait for the first's
    readers; a stop that comes during that wait ends it (one nap, not the
    whole wait) and the call is never made: its readers are released."""
    populate(engine, [(3, vision()), (2, vision(max_papers=2))])
    stop, naps = threading.Event(), []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        stop.set()  # SIGTERM while waiting

    options = SendOptions(
        now=RUN_AT,
        force_hour=True,
        send_rate=1,
        rate_clock=lambda: 1000.0,
        sleep=sleep,
        stop=stop.is_set,
    )
    report = run_send(engine, mailer_for(fake), options, site=SITE, secret=SECRET)
    first = len(fake.accepted[0].recipients)
    assert naps == [0.2]  # of the first's `first` seconds
    assert fake.counts()["received"] == 1
    assert report.counts == {"sent": first, "released": 5 - first}
    assert states(engine) == Counter({"sent": first})


def test_a_stop_during_the_backoff_releases_the_call_instead_of_trying_again(engine, fake):
    """SendGrid answers 503; during the pause before the next try the run is
    asked to stop: no second try, the call is released (a 503 delivered
    nothing), nothing is left `sending` or `unknown`."""
    populate(engine, [(3, vision())])
    fake.fail(1, "503")
    stop, pauses = threading.Event(), []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        stop.set()

    mailer = SendGridMailer(
        API_KEY, SENDER, host=fake.url, backoff=Backoff(sleep=sleep, random=lambda: 0.9)
    )
    options = SendOptions(now=RUN_AT, force_hour=True, stop=stop.is_set)
    report = run_send(engine, mailer, options, site=SITE, secret=SECRET)
    assert len(pauses) == 1 and fake.counts()["received"] == 1
    assert report.counts == {"released": 3} and states(engine) == Counter()
    again = run(engine, mailer_for(fake), now=RUN_AT + timedelta(minutes=5))
    assert again.counts == {"sent": 3}


def test_a_call_refused_whole_is_one_warning_naming_its_readers(engine, fake, caplog):
    populate(engine, [(12, vision()), (1, vision(max_papers=2))])
    fake.faults = lambda number: "503"
    with caplog.at_level("WARNING", logger="digest.delivery"):
        report = run(engine, mailer_for(fake))
    assert report.counts["released"] == 13
    warnings = [r.getMessage() for r in caplog.records if r.name == "digest.delivery"]
    # One line per provider call (one per digest), the whole call's readers in it.
    assert len(warnings) == 2, warnings
    group, single = sorted(warnings, key=len, reverse=True)
    named = r"\(" + ", ".join([r"\d+"] * 10) + r" and 2 more\)"
    assert re.search(rf"for 12 subscribers {named} not sent, released: .*503", group)
    assert re.search(r"for subscriber \d+ not sent, released: .*503", single)
