"""The outbox, SMTP and console mailers build each distinct digest's MIME once
and fill it per recipient: what they write or send parses to what
`build_email` makes of the same message, hostile values included."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from digest.digests import Message
from digest.mail.console import ConsoleMailer
from digest.mail.outbox import OutboxMailer
from digest.render import compile_digest, personalize
from tests.fakes.smtp_server import SmtpServer
from tests.pipeline_helpers import read_outbox
from tests.test_mail_smtp import USERS, ca, mailer  # noqa: F401 - ca is a fixture
from tests.test_message_template import (
    HOSTILE_VALUES,
    PEOPLE,
    SENDER,
    digests,
    parse,
    reference,
    shape,
    with_values,
)

WHEN = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)


def batch() -> list[Message]:
    """Two digests (one text-only) for every sample person, hostile values
    handed straight to the mailer, and a message without a template."""
    compiled = [compile_digest(*digests()[case]) for case in ("hostile", "text")]
    out = [personalize(c, p) for p in PEOPLE for c in compiled]
    out += [with_values(personalize(compiled[0], PEOPLE[0]), v) for v in HOSTILE_VALUES]
    out.append(Message(to="new@example.org", subject="Confirm ✓", text="Hi\n", html="<p>Hi</p>"))
    for i, message in enumerate(out):
        message.edition_id, message.period, message.subscriber_id = 100 + i, "2026-11-22", i
    return out


def same_email(data: bytes, message: Message, message_id: str) -> bool:
    parsed = parse(data)
    date = parsedate_to_datetime(parsed["Date"])
    expected = parse(reference(message, date=date, message_id=message_id))
    return shape(parsed) == shape(expected)


def test_the_outbox_writes_what_build_email_would(tmp_path):
    messages = batch()
    outbox = OutboxMailer(tmp_path, SENDER, clock=lambda: WHEN)
    outcomes = [o for call in outbox.calls(messages) for o in outbox.send(call)]
    assert [o.status for o in outcomes] == ["sent"] * len(messages)
    assert (outbox.emails.built, len(outbox.emails._templates)) == (1, 2)
    for message, outcome in zip(messages, outcomes, strict=True):
        data = (tmp_path / outbox.filename(message)).read_bytes()
        assert same_email(data, message, outcome.message_id), message.to
    assert len(read_outbox(tmp_path)) == len(messages)


def test_the_outbox_releases_a_message_no_header_can_carry(tmp_path):
    good, bad = batch()[:2]
    bad = replace(
        bad, headers={**bad.headers, "List-Unsubscribe": "<https://x.example/\r\nBcc: y>"}
    )
    outbox = OutboxMailer(tmp_path, SENDER, clock=lambda: WHEN)
    outcomes = outbox.send([good, bad])
    assert [o.status for o in outcomes] == ["sent", "released"]
    assert "one line" in outcomes[1].error and len(read_outbox(tmp_path)) == 1


def test_smtp_sends_what_build_email_would(ca):  # noqa: F811 - the fixture
    messages = batch()
    with SmtpServer(ca=ca, users=USERS) as server:
        smtp = mailer(server, ca)
        outcomes = [o for call in smtp.calls(messages) for o in smtp.send(call)]
        smtp.close()
    assert [o.status for o in outcomes] == ["sent"] * len(messages)
    received = server.handler.received
    assert [r.rcpt_tos for r in received] == [
        [m.to.replace("bücher", "xn--bcher-kva")] for m in messages
    ]
    for r, message, outcome in zip(received, messages, outcomes, strict=True):
        assert same_email(r.content, message, outcome.message_id), message.to
    assert smtp.emails.built == 1 and len(smtp.emails._templates) == 2


def test_the_console_shows_the_decoded_text_of_the_same_bytes():
    messages = batch()
    stream = io.StringIO()
    outcomes = ConsoleMailer(SENDER, stream).send([messages[0], messages[-1]])
    shown = stream.getvalue()
    assert [o.status for o in outcomes] == ["sent", "sent"]
    assert f"Message-ID: {outcomes[0].message_id}" in shown
    assert "Hello Ada," in shown and "Subject: Confirm ✓" in shown
    assert "[text/html part:" in shown and "\r" not in shown and "=C3" not in shown
