"""An email filled from a `MessageTemplate` parses to the same message as
`build_email(personalize(...))`: the same headers, the same decoded parts."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

import pytest

from digest.digests import Recipient
from digest.mail.message import build_email, email_bytes
from digest.mail.message_template import MessageTemplate
from digest.render import SiteInfo, compile_digest, personalize
from tests.test_render import HOSTILE, SITE, make_paper, sample_digest

SENDER = "Trending Papers <digest@example.org>"
WHEN = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
LONG_SITE = SiteInfo(
    base_url="https://digest.example.org/" + "a-very-long-path-segment/" * 6,
    sender=SENDER,
    postal_address="Ünïcode Läb\n1 Research Way",
)
PEOPLE = [
    Recipient(1, "reader@example.org", "https://x.example/u/t1", "https://x.example/p/t1", "Ada"),
    Recipient(2, "jose@bücher.example", "https://x.example/u/t2", "https://x.example/p/t2", "José"),
    Recipient(
        3, "li@example.org", "https://x.example/u/" + "t" * 300, "https://x.example/p/3", "李雷"
    ),
    Recipient(
        4,
        "z@example.org",
        "https://x.example/u/4",
        "https://x.example/p/4",
        "Zoë = %%DIGEST_EMAIL%%",
    ),
    Recipient(5, "q@example.org", "https://x.example/u/5?a=1&b=2", "https://x.example/p/5", ""),
]


def digests():
    hostile = sample_digest(2, per_section=1)
    hostile.sections[0].title = HOSTILE
    hostile.sections[0].entries[0].paper = make_paper(9, title="Ünïcode — ∑ " + HOSTILE)
    return {
        "html": (sample_digest(12, per_section=4), SITE),
        "text": (sample_digest(5, per_section=5, fmt="text"), SITE),
        "hostile": (hostile, SITE),
        "long urls": (sample_digest(3, per_section=3), LONG_SITE),
    }


def parse(data: bytes):
    return email.message_from_bytes(data, policy=policy.default)


def shape(message) -> list:
    """Everything a reader sees: headers (boundary aside) and decoded parts."""
    headers = [(k, str(v)) for k, v in message.items() if k != "Content-Type"]
    parts = [message] if not message.is_multipart() else list(message.iter_parts())
    return [
        headers,
        message.get_content_type(),
        [(p.get_content_type(), p.get_content_charset(), p.get_content()) for p in parts],
    ]


@pytest.mark.parametrize("case", list(digests()))
def test_it_parses_like_build_email(case):
    digest, site = digests()[case]
    compiled = compile_digest(digest, site)
    template = MessageTemplate(compiled, SENDER)
    for person in PEOPLE:
        message_id, data = template.fill(person, date=WHEN, message_id="<1.2@example.org>")
        reference = build_email(
            personalize(compiled, person), SENDER, date=WHEN, message_id="<1.2@example.org>"
        )
        assert shape(parse(data)) == shape(parse(email_bytes(reference))), person.name
        assert message_id == "<1.2@example.org>"
        lines = data.split(b"\r\n")
        assert b"\n" not in b"".join(lines) and b"\r" not in b"".join(lines)
        body = data.split(b"\r\n\r\n", 1)[1].split(b"\r\n")
        assert max(len(line) for line in body) <= 76


def test_it_keeps_tokens_whole_and_values_as_given():
    compiled = compile_digest(sample_digest(3, per_section=3), LONG_SITE)
    person = PEOPLE[3]  # a name that looks like a token must not be substituted
    _, data = MessageTemplate(compiled, SENDER).fill(person, date=WHEN)
    message = parse(data)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Hello Zoë = %%DIGEST_EMAIL%%," in text and "%%DIGEST_EMAIL%%." not in text
    assert "Hello Zoë = %%DIGEST_EMAIL%%," in html
    assert message["List-Unsubscribe"] == "<https://x.example/u/4>"
    assert message["To"] == "z@example.org" and message["Message-ID"].endswith("@example.org>")


def test_it_refuses_what_build_email_refuses():
    template = MessageTemplate(compile_digest(sample_digest(1, per_section=1), SITE), SENDER)
    bad = Recipient(
        6, "x@example.org\r\nBcc: y@evil.test", "https://x.example/u", "https://x.example/p"
    )
    with pytest.raises(ValueError):
        template.fill(bad, date=WHEN)
    with pytest.raises(ValueError):
        build_email(personalize(template_source(), bad), SENDER)


def template_source():
    return compile_digest(sample_digest(1, per_section=1), SITE)
