"""The SendGrid mailer keeps one connection open across requests (the package
as shipped opens one per request), and never writes a request to a connection
the server has closed."""

from __future__ import annotations

import socket
import urllib.request

from digest.mail.keepalive import IDLE_LIMIT
from tests.test_mail_sendgrid import fake, mailer_for, messages  # noqa: F401 - fake is a fixture


def test_calls_share_one_connection_errors_and_retries_included(fake):  # noqa: F811
    fake.fail(2, "500")
    calls = [messages(3) for _ in range(4)]
    for message in calls[2]:
        message.to = message.to.replace("example.org", "localhost")  # 400: invalid addresses
    mailer = mailer_for(fake)
    statuses = [o.status for call in calls for o in mailer.send(call)]
    assert statuses == ["sent"] * 6 + ["failed"] * 3 + ["sent"] * 3
    assert fake.received == 5 and fake.connections == 1 and mailer.connection.opened == 1
    mailer.close()


def test_a_connection_the_server_closed_while_idle_is_not_reused(fake):  # noqa: F811
    fake.fail(1, "close")  # answered, then closed without a word (an idle timeout)
    mailer = mailer_for(fake)
    assert [o.status for o in mailer.send(messages(2))] == ["sent", "sent"]
    assert fake.closed.wait(5)
    assert [o.status for o in mailer.send(messages(2))] == ["sent", "sent"]
    assert fake.received == 2 and fake.connections == 2


def test_a_connection_idle_for_long_is_replaced_before_use(fake):  # noqa: F811
    now = [0.0]
    mailer = mailer_for(fake)
    mailer.connection.clock = lambda: now[0]
    mailer.send(messages(1))
    now[0] += IDLE_LIMIT / 2
    mailer.send(messages(1))
    now[0] += IDLE_LIMIT + 1
    mailer.send(messages(1))
    assert fake.received == 3 and mailer.connection.opened == 2 and fake.connections == 2


def test_after_a_lost_answer_the_next_call_gets_a_new_connection(fake):  # noqa: F811
    fake.fail(2, "slow")
    mailer = mailer_for(fake, timeout=0.3)
    assert mailer.send(messages(1))[0].status == "sent"
    assert mailer.send(messages(1))[0].status == "unknown"
    fake.release_slow()
    assert mailer.send(messages(1))[0].status == "sent"
    assert mailer.connection.opened == 2


def test_with_a_proxy_configured_requests_go_through_it_as_before(fake, monkeypatch):  # noqa: F811
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    for name in ("no_proxy", "NO_PROXY", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{dead}")
    outcome = mailer_for(fake).send(messages(1))[0]
    assert outcome.status == "released" and "cannot reach SendGrid" in outcome.error
    assert fake.received == 0


def test_a_kept_alive_request_builds_no_urllib_opener(fake, monkeypatch):  # noqa: F811
    # The package builds one per request (its handler classes, about 0.65 ms).
    built = []
    real = urllib.request.build_opener
    monkeypatch.setattr(urllib.request, "build_opener", lambda *a: built.append(a) or real(*a))
    mailer = mailer_for(fake)
    for _ in range(3):
        assert [o.status for o in mailer.send(messages(2))] == ["sent", "sent"]
    assert fake.received == 3 and built == []
    mailer.close()
