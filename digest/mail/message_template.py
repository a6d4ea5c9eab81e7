"""The email of one compiled digest built once, filled per recipient.

`build_email` + `email_bytes` cost about 1.8 ms a message (the email package
folds headers and quoted-printable-encodes a 100 KB HTML part). Recipients of one
digest differ only in a few header values and the personal tokens, so
`MessageTemplate` encodes everything else once, from the digest's shared
`Template`, and `fill` puts each message's values in:

- Headers: From and Subject are folded once by the email package; To, Date,
  Message-ID and the message's own headers (List-Id, List-Unsubscribe, ...) are
  written per message, checked and folded as `build_email` does.
- Bodies: quoted-printable. A soft line break (`=` CRLF, which decoders drop)
  is put before and after every token, so each token stands alone on an
  encoded line and the text around it is encoded once; a message's value
  (`Message.substitutions`) is encoded the same way (`binascii.b2a_qp`, UTF-8)
  where the token stood. Every encoded line stays within 76 characters, the
  soft break included.

The result parses to the same headers and the same decoded parts as
`build_email(message)` (with the same multipart boundary, derived from the
template), though its soft line breaks may sit elsewhere;
`tests/test_message_template.py` checks this.
`EmailCache` is what the outbox, SMTP and console mailers call: templates per
distinct digest, kept across calls, and `build_email` for a message that has no
template (confirmation and welcome mail).
"""

from __future__ import annotations

import binascii
import functools
from collections import OrderedDict
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from digest.digests import Message, Template
from digest.mail.message import (
    _UNFOLDED,
    POLICY,
    _check_header,
    _domain_of,
    ascii_address,
    build_email,
    email_bytes,
    multipart_boundary,
)
from digest.render_view import TOKEN_PATTERN

_CRLF = b"\r\n"
_SOFT = b"=\r\n"
_QP_LINE = 76  # characters, a soft break's "=" included
_MAX_HEADER_LINE = 998
# Names `build_email` sets itself: a message header with one of them is built
# by `build_email`, which knows how they combine.
_OWN_HEADERS = frozenset(
    {"from", "to", "subject", "date", "message-id", "mime-version", "content-type",
     "content-transfer-encoding"}
)  # fmt: skip


class MessageTemplate:
    """One compiled digest's email with the personal values left open."""

    def __init__(self, template: Template, sender: str, *, domain: str | None = None):
        self.template = template
        self.domain = domain or _domain_of(sender)
        self._from = _header("From", sender)
        self._subject = _header("Subject", template.subject)
        parts = [("plain", template.text)]
        if template.html is not None:
            parts.append(("html", template.html))
        self._body = _body(parts)
        self.tokens = frozenset(p for p in self._body if isinstance(p, str))

    def fits(self, message: Message) -> bool:
        """Whether `fill` builds `message` (it came from this template and sets
        none of the headers `build_email` sets itself)."""
        return (
            message.template is not None
            and message.template.key == self.template.key
            and message.subject == self.template.subject
            and (message.html is None) == (self.template.html is None)
            and self.tokens <= message.substitutions.keys()
            and not any(name.lower() in _OWN_HEADERS for name in message.headers)
        )

    def fill(
        self, message: Message, *, date: datetime | None = None, message_id: str | None = None
    ) -> tuple[str, bytes]:
        """(Message-ID, RFC 5322 bytes) of the email for `message`, which must
        `fit`. Raises ValueError where `build_email` would (a header value with
        CR or LF, an address or URL a header cannot carry)."""
        values = message.substitutions
        message_id = message_id or make_msgid(domain=self.domain)
        out = [
            self._from,
            _line("To", ascii_address(message.to)),
            self._subject,
            _line("Date", format_datetime(date or datetime.now(UTC))),
            _line("Message-ID", message_id),
        ]
        for name, value in message.headers.items():
            out.append(_line(name, value) if name.lower() in _UNFOLDED else _header(name, value))
        out.append(b"MIME-Version: 1.0\r\n")
        for piece in self._body:
            if isinstance(piece, bytes):
                out.append(piece)
            else:
                out.append(_qp(_canonical(values[piece]).encode("utf-8")))
        return message_id, b"".join(out)


class EmailCache:
    """RFC 5322 bytes for messages from `sender`, one `MessageTemplate` per
    distinct digest (by `Template.key`), the `maxsize` most recently used
    kept, as `CompileCache` keeps compiled digests."""

    def __init__(self, sender: str, maxsize: int = 256) -> None:
        self.sender, self.maxsize = sender, maxsize
        self.built = self.filled = 0
        self._templates: OrderedDict[str, MessageTemplate] = OrderedDict()

    def email(self, message: Message, *, date: datetime | None = None) -> tuple[str, bytes]:
        """(Message-ID, bytes) of `message`: filled from its digest's template
        when it has one, else built by `build_email`. Raises ValueError as
        `build_email` does."""
        template = self._template(message.template) if message.template is not None else None
        if template is not None and template.fits(message):
            self.filled += 1
            return template.fill(message, date=date)
        self.built += 1
        email = build_email(message, self.sender, date=date)
        return email["Message-ID"], email_bytes(email)

    def _template(self, shared: Template) -> MessageTemplate:
        template = self._templates.get(shared.key)
        if template is not None:
            self._templates.move_to_end(shared.key)
            return template
        template = self._templates[shared.key] = MessageTemplate(shared, self.sender)
        if len(self._templates) > self.maxsize:
            self._templates.popitem(last=False)
        return template


@functools.lru_cache(maxsize=512)
def _header(name: str, value: str) -> bytes:
    """The header as the email package folds it (RFC 2047 where needed)."""
    _check_header(name, value)
    email = EmailMessage(policy=POLICY)
    email[name] = value
    return email.as_bytes(policy=POLICY).removesuffix(_CRLF)


def _line(name: str, value: str) -> bytes:
    """A header that must stay whole on one line (an address, id, URL or date)."""
    _check_header(name, value)
    line = f"{name}: {value}"
    if not line.isascii() or len(line) > _MAX_HEADER_LINE or (name == "To" and len(line) > 78):
        if name == "To":  # a long address: as the email package folds it
            return _header(name, value)
        raise ValueError(f"{name} does not fit on one header line")
    return line.encode("ascii") + _CRLF


def _body(parts: list[tuple[str, str]]) -> list[bytes | str]:
    """The Content-Type header and body as encoded pieces and tokens (str)."""
    if len(parts) == 1:
        return [_part_headers(parts[0][0]), _CRLF, *_encoded(parts[0][1])]
    boundary = multipart_boundary(parts[0][1], parts[1][1]).encode("ascii")
    out: list[bytes | str] = [
        b'Content-Type: multipart/alternative; boundary="' + boundary + b'"\r\n\r\n'
    ]
    for subtype, body in parts:
        out += [b"--" + boundary + _CRLF, _part_headers(subtype), _CRLF, *_encoded(body), _CRLF]
    out.append(b"--" + boundary + b"--" + _CRLF)
    return out


def _part_headers(subtype: str) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n"
    ).encode("ascii")


def _encoded(body: str) -> list[bytes | str]:
    """The body, CRLF-canonical, quoted-printable, split at its tokens, each
    token between soft line breaks."""
    out: list[bytes | str] = []
    for index, piece in enumerate(TOKEN_PATTERN.split(_canonical(body))):
        if index % 2:
            out += [_SOFT, piece, _SOFT]
        elif piece:
            out.append(_qp(piece.encode("utf-8")))
    return out


def _canonical(text: str) -> str:
    """CRLF line breaks, as `build_email` writes its bodies (RFC 2045); a lone
    CR is a line break too, as the email package's generator makes it."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def _qp(data: bytes) -> bytes:
    """Quoted-printable whose last line leaves room for a soft break's "="."""
    encoded = binascii.b2a_qp(data, istext=True).replace(_CRLF, b"\n").replace(b"\n", _CRLF)
    start = encoded.rfind(b"\n") + 1
    last = encoded[start:]
    if len(last) < _QP_LINE:
        return encoded
    cut = _QP_LINE - 3  # never inside an "=XX" escape: back off to its start
    while b"=" in last[cut - 2 : cut]:
        cut -= 1
    return encoded[: start + cut] + _SOFT + last[cut:]
