"""The SMTP mailer against aiosmtpd on loopback: STARTTLS and implicit TLS with
a test CA, AUTH, per-message outcomes, dropped connections, and the URL."""

from __future__ import annotations

import email
from collections import Counter
from email import policy

import pytest

from digest.config import ConfigError, load_settings
from digest.mail.base import AuthError
from digest.mail.retry import Backoff
from digest.mail.smtp import SmtpMailer, parse_smtp_url
from digest.wiring import make_mailer
from tests.fakes.smtp_server import SmtpServer, make_ca
from tests.test_mail_sendgrid import messages

SENDER = "Trending Papers <digest@example.org>"
USERS = {"digest": "p@ss/word"}


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return make_ca(tmp_path_factory.mktemp("ca"))


def mailer(server, ca, *, scheme="smtp", user="digest", password="p%40ss%2Fword", pauses=None):
    credentials = f"{user}:{password}@" if user else ""
    url = f"{scheme}://{credentials}127.0.0.1:{server.port}?timeout=5"
    backoff = Backoff(attempts=3, sleep=(pauses.append if pauses is not None else lambda s: None))
    return SmtpMailer(parse_smtp_url(url, str(ca.ca_file)), SENDER, backoff=backoff)


def send_each(mailer, batch):
    outcomes = [o for call in mailer.calls(batch) for o in mailer.send(call)]
    mailer.close()
    return outcomes


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_it_sends_over_tls_with_auth_on_one_connection(ca, tls):
    batch = messages(3)
    with SmtpServer(tls=tls, ca=ca, users=USERS) as server:
        smtp = mailer(server, ca, scheme="smtp" if tls == "starttls" else "smtps")
        assert [len(c) for c in smtp.calls(batch)] == [1, 1, 1]
        outcomes = send_each(smtp, batch)
    assert [o.status for o in outcomes] == ["sent"] * 3
    received = server.handler.received
    assert [r.rcpt_tos for r in received] == [[m.to] for m in batch]
    assert server.handler.transactions == 3
    for r, message, outcome in zip(received, batch, outcomes, strict=True):
        parsed = email.message_from_bytes(r.content, policy=policy.default)
        assert parsed["Message-ID"] == outcome.message_id
        assert parsed["List-Unsubscribe"] == message.headers["List-Unsubscribe"]
        assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
        assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == message.text


def test_a_refused_recipient_fails_only_its_message_and_a_deferred_one_is_released(ca):
    batch = messages(4)
    pauses: list[float] = []
    with SmtpServer(ca=ca, users=USERS) as server:
        server.handler.refuse.add(batch[1].to)
        server.handler.defer.add(batch[2].to)
        outcomes = send_each(mailer(server, ca, pauses=pauses), batch)
    assert [o.status for o in outcomes] == ["sent", "failed", "released", "sent"]
    assert "550" in outcomes[1].error and "RCPT TO" in outcomes[1].error
    assert "450" in outcomes[2].error and len(pauses) == 2  # three tries in all
    assert [r.rcpt_tos for r in server.handler.received] == [[batch[0].to], [batch[3].to]]


def test_a_dropped_connection_is_reopened_and_a_lost_reply_is_unknown(ca):
    batch = messages(5)
    with SmtpServer(ca=ca, users=USERS) as server:
        # Message 2: the server has closed the idle connection; message 4:
        # the whole message arrives but the reply never comes back.
        server.handler.drop_at_mail.add(2)
        server.handler.drop_after_data.add(5)
        outcomes = send_each(mailer(server, ca), batch)
    assert [o.status for o in outcomes] == ["sent", "sent", "sent", "unknown", "sent"]
    assert server.handler.transactions == 6  # message 2 went again on a new connection
    assert "not retried" in outcomes[3].error
    delivered = Counter(to for r in server.handler.received for to in r.rcpt_tos)
    assert delivered == Counter(m.to for m in batch), "each message reached the server once"


def test_a_wrong_password_raises_auth_error_naming_the_setting(ca):
    with SmtpServer(ca=ca, users=USERS) as server, pytest.raises(AuthError) as caught:
        send_each(mailer(server, ca, password="wrong"), messages(1))
    line = str(caught.value)
    assert "535" in line and "DIGEST_SMTP_URL" in line and "wrong" not in line
    assert not server.handler.received


def test_an_untrusted_certificate_stops_the_run(ca, tmp_path):
    other = make_ca(tmp_path)
    with SmtpServer(ca=ca, users=USERS) as server, pytest.raises(AuthError) as caught:
        send_each(mailer(server, other), messages(1))
    assert "DIGEST_SMTP_CA_FILE" in str(caught.value)


def test_an_unreachable_server_releases_after_bounded_tries(ca):
    with SmtpServer(ca=ca) as server:
        port = server.port
    pauses: list[float] = []
    smtp = SmtpMailer(
        parse_smtp_url(f"smtp://127.0.0.1:{port}?timeout=2"),
        SENDER,
        backoff=Backoff(attempts=3, sleep=pauses.append),
    )
    outcomes = send_each(smtp, messages(1))
    assert outcomes[0].status == "released" and "cannot connect" in outcomes[0].error
    assert len(pauses) == 2


def test_it_reads_every_url_form_and_names_bad_ones():
    plain = parse_smtp_url("smtp://us%40er:p%3Ass@mail.example.org")
    assert (plain.host, plain.port, plain.starttls, plain.implicit_tls) == (
        "mail.example.org", 587, True, False
    )  # fmt: skip
    assert (plain.user, plain.password) == ("us@er", "p:ss")
    implicit = parse_smtp_url("smtps://mail.example.org")
    assert (implicit.port, implicit.implicit_tls, implicit.starttls) == (465, True, False)
    relay = parse_smtp_url("smtp://relay:25?starttls=false&timeout=5")
    assert (relay.starttls, relay.timeout, relay.user) == (False, 5.0, None)
    for url, fragment in [
        ("http://user:secret@host", "smtp://"),
        ("smtp://user:secret@", "no host"),
        ("smtp://user:secret@host:99999", "port"),
        ("smtp://user:secret@host?tls=1", "unknown parameters: tls"),
        ("smtp://user:secret@host?starttls=maybe", "starttls must be"),
    ]:
        with pytest.raises(ValueError, match=fragment) as caught:
            parse_smtp_url(url)
        assert "secret" not in str(caught.value)


def test_wiring_names_missing_or_bad_smtp_settings(tmp_path):
    with pytest.raises(ConfigError, match="DIGEST_SMTP_URL: required"):
        make_mailer(load_settings(environ={"DIGEST_MAILER": "smtp"}))
    bad = {"DIGEST_MAILER": "smtp", "DIGEST_SMTP_URL": "smtp://u:hunter2@host:x"}
    with pytest.raises(ConfigError, match="DIGEST_SMTP_URL: has a port") as caught:
        make_mailer(load_settings(environ=bad))
    assert "hunter2" not in str(caught.value)
    secret = tmp_path / "smtp-url"
    secret.write_text("smtps://u:p@mail.example.org\n")
    settings = load_settings(environ={"DIGEST_MAILER": "smtp", "DIGEST_SMTP_URL_FILE": str(secret)})
    assert make_mailer(settings).config.implicit_tls
    missing_ca = {**bad, "DIGEST_SMTP_URL": "smtp://h", "DIGEST_SMTP_CA_FILE": "/nope.pem"}
    with pytest.raises(ConfigError, match="DIGEST_SMTP_CA_FILE"):
        make_mailer(load_settings(environ=missing_ca))


def test_digest_send_stops_on_a_wrong_password_then_delivers_through_smtp(
    database_url, ca, tmp_path
):
    from tests.cli_helpers import run_digest
    from tests.test_cli_send import prepare

    env = prepare(database_url, tmp_path)
    with SmtpServer(ca=ca, users=USERS) as server:
        env.update(
            DIGEST_MAILER="smtp",
            DIGEST_SMTP_URL=f"smtp://digest:wrong@127.0.0.1:{server.port}",
            DIGEST_SMTP_CA_FILE=str(ca.ca_file),
            DIGEST_FROM=SENDER,
        )
        wrong = run_digest(["send", "--now"], env)
        assert wrong.exit_code == 1 and len(wrong.stderr.strip().splitlines()) == 1
        assert "535" in wrong.stderr and "2 claimed editions released" in wrong.stderr
        env["DIGEST_SMTP_URL"] = f"smtp://digest:p%40ss%2Fword@127.0.0.1:{server.port}"
        result = run_digest(["send", "--now"], env)
        assert result.exit_code == 0, result.stderr
        assert "2 sent" in result.stdout
    assert sorted(to for r in server.handler.received for to in r.rcpt_tos) == [
        "ada@example.org", "bob@example.org"
    ]  # fmt: skip
