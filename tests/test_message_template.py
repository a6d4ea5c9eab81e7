"""An email filled from a `MessageTemplate` parses to the same message as
`build_email(message)`: the same headers, the same decoded parts, hostile
values included; `EmailCache` keeps one template per distinct digest."""

from __future__ import annotations

import email
from dataclasses import replace
from datetime import UTC, datetime
from email import policy

import pytest

from digest.digests import Message, Recipient, Template
from digest.mail.message import build_email, email_bytes
from digest.mail.message_template import EmailCache, MessageTemplate
from digest.render import SiteInfo, compile_digest, personalize
from digest.render_view import TOKEN_PATTERN
from tests.test_render import HOSTILE, SITE, make_paper, sample_digest

SENDER = "Trending Papers <digest@example.org>"
WHEN = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
MSGID = "<1.2@example.org>"
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
    Recipient(6, "r@example.org", "https://x.example/u/6", "https://x.example/p/6", "Eve\r\nBcc: x"),
    Recipient(7, "a" * 60 + "@" + "b" * 40 + ".example", "https://x.example/u/7", "https://x.example/p/7"),
]  # fmt: skip
# Values no recipient gets through `render.substitutions` (it makes them one
# line and escapes them), handed straight to the mailer: the bytes must still
# carry exactly what `build_email` would.
HOSTILE_VALUES = [
    "line one\r\nBcc: x@evil.test\nline three\rend",
    "Ünïcode — ∑ 李雷 " * 12,
    "x" * 300,
    " leading and trailing spaces \t ",
    ".starts with a dot\n.and again",
    "=3D = =\r\n=",
    "",
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


def reference(message: Message, **options) -> bytes:
    return email_bytes(build_email(message, SENDER, **options))


def assert_well_formed(data: bytes) -> None:
    lines = data.split(b"\r\n")
    assert b"\n" not in b"".join(lines) and b"\r" not in b"".join(lines)
    body = data.split(b"\r\n\r\n", 1)[1].split(b"\r\n")
    assert max(len(line) for line in body) <= 76


def with_values(message: Message, value: str) -> Message:
    """`message` with every personal token set to `value`, text and html
    filled accordingly (as `personalize` fills them)."""
    assert message.template is not None
    values = {t: value for t in message.substitutions}

    def fill(text):
        parts = TOKEN_PATTERN.split(text)
        parts[1::2] = [values[t] for t in parts[1::2]]
        return "".join(parts)

    html = message.template.html
    return replace(
        message,
        text=fill(message.template.text),
        html=fill(html) if html is not None else None,
        substitutions=values,
    )


@pytest.mark.parametrize("case", list(digests()))
def test_it_parses_like_build_email(case):
    digest, site = digests()[case]
    compiled = compile_digest(digest, site)
    template = MessageTemplate(compiled.template, SENDER)
    for person in PEOPLE:
        message = personalize(compiled, person)
        assert template.fits(message)
        message_id, data = template.fill(message, date=WHEN, message_id=MSGID)
        expected = reference(message, date=WHEN, message_id=MSGID)
        assert shape(parse(data)) == shape(parse(expected)), person.name
        assert parse(data)["Content-Type"] == parse(expected)["Content-Type"]  # boundary too
        assert message_id == MSGID
        assert_well_formed(data)


@pytest.mark.parametrize("value", HOSTILE_VALUES)
@pytest.mark.parametrize("case", ["html", "text", "hostile"])
def test_hostile_values_give_the_bytes_build_email_gives(case, value):
    digest, site = digests()[case]
    compiled = compile_digest(digest, site)
    message = with_values(personalize(compiled, PEOPLE[0]), value)
    _, data = MessageTemplate(compiled.template, SENDER).fill(message, date=WHEN, message_id=MSGID)
    expected = reference(message, date=WHEN, message_id=MSGID)
    assert shape(parse(data)) == shape(parse(expected))
    assert_well_formed(data)


def test_it_keeps_tokens_whole_and_values_as_given():
    compiled = compile_digest(sample_digest(3, per_section=3), LONG_SITE)
    message = personalize(compiled, PEOPLE[3])  # a name that looks like a token stays text
    _, data = MessageTemplate(compiled.template, SENDER).fill(message, date=WHEN)
    parsed = parse(data)
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert "Hello Zoë = %%DIGEST_EMAIL%%," in text and "%%DIGEST_EMAIL%%." not in text
    assert "Hello Zoë = %%DIGEST_EMAIL%%," in html
    assert parsed["List-Unsubscribe"] == "<https://x.example/u/4>"
    assert parsed["To"] == "z@example.org" and parsed["Message-ID"].endswith("@example.org>")


@pytest.mark.parametrize(
    "change",
    [
        {"to": "x@example.org\r\nBcc: y@evil.test"},
        {"to": "ünï@example.org"},
        {"headers": {"List-Unsubscribe": "<https://x.example/u>\r\nBcc: y@evil.test"}},
        {"headers": {"List-Unsubscribe": "<https://x.example/u/" + "t" * 1000 + ">"}},
        {"headers": {"List-Id": "Ünïcode <digest.example.org>"}},
    ],
)
def test_it_refuses_what_build_email_refuses(change):
    compiled = compile_digest(sample_digest(1, per_section=1), SITE)
    bad = replace(personalize(compiled, PEOPLE[0]), **change)
    with pytest.raises(ValueError):
        reference(bad)  # some when built, some when written
    with pytest.raises(ValueError):
        MessageTemplate(compiled.template, SENDER).fill(bad, date=WHEN)
    with pytest.raises(ValueError):
        EmailCache(SENDER).email(bad, date=WHEN)


def test_a_subject_that_is_not_one_line_is_refused_like_build_email():
    compiled = compile_digest(sample_digest(1, per_section=1), SITE)
    shared = replace(compiled.template, key="other", subject="Papers\r\nBcc: y@evil.test")
    bad = replace(personalize(compiled, PEOPLE[0]), subject=shared.subject, template=shared)
    with pytest.raises(ValueError):
        reference(bad)
    with pytest.raises(ValueError):
        EmailCache(SENDER).email(bad, date=WHEN)


def test_the_cache_builds_one_template_per_digest_and_falls_back_to_build_email():
    first = compile_digest(sample_digest(4, per_section=2), SITE)
    second = compile_digest(sample_digest(2, per_section=2, fmt="text"), SITE)
    long_subject = replace(
        first.template, key="long", subject="Ünïcode — ∑ " + "a long subject line " * 8
    )
    messages = [personalize(c, p) for p in PEOPLE for c in (first, second)]
    messages.append(replace(messages[0], subject=long_subject.subject, template=long_subject))
    # No template (confirmation mail), and one whose subject is not its template's.
    messages.append(Message(to="new@example.org", subject="Confirm", text="Hi", html="<p>Hi</p>"))
    messages.append(replace(messages[0], subject="Another subject"))
    cache = EmailCache(SENDER)
    for message in messages:
        message_id, data = cache.email(message, date=WHEN)
        expected = reference(message, date=WHEN, message_id=message_id)
        assert shape(parse(data)) == shape(parse(expected))
        assert_well_formed(data)
    assert (cache.filled, cache.built) == (len(messages) - 2, 2)
    assert len(cache._templates) == 3


def test_the_cache_keeps_the_most_recently_used_templates():
    compiled = [compile_digest(sample_digest(n, per_section=1), SITE) for n in (1, 2, 3)]
    cache = EmailCache(SENDER, maxsize=2)
    for c in [*compiled, compiled[0]]:
        cache.email(personalize(c, PEOPLE[0]), date=WHEN)
    assert list(cache._templates) == [compiled[2].template.key, compiled[0].template.key]


def test_a_template_does_not_fit_a_message_missing_one_of_its_values():
    compiled = compile_digest(sample_digest(1, per_section=1), SITE)
    message = personalize(compiled, PEOPLE[0])
    template = MessageTemplate(compiled.template, SENDER)
    assert template.fits(message)
    partial = replace(message, substitutions=dict(list(message.substitutions.items())[1:]))
    assert not template.fits(partial)
    owns_a_header = replace(message, headers={**message.headers, "Subject": "x"})
    assert not template.fits(owns_a_header)


def test_a_plain_template_object_works_too():
    shared = Template("k", "Hello", "Hi %%DIGEST_GREETING%%\n", None)
    message = Message(
        to="a@example.org",
        subject="Hello",
        text="Hi Ada,\n",
        template=shared,
        substitutions={"%%DIGEST_GREETING%%": "Ada,"},
    )
    _, data = MessageTemplate(shared, SENDER).fill(message, date=WHEN, message_id=MSGID)
    assert shape(parse(data)) == shape(parse(reference(message, date=WHEN, message_id=MSGID)))
