"""The email of one compiled digest built once, filled per recipient.

`build_email` + `email_bytes` cost about 1.8 ms a message (the email package
folds headers and quoted-printable-encodes a 100 KB HTML part). Recipients of one
digest differ only in a few header values and the personal tokens, so
`MessageTemplate.build` encodes everything else once and `fill` puts each
recipient's values in:

- Headers: From, Subject, List-Id, List-Unsubscribe-Post, MIME-Version and
  Content-Type are folded once by the email package; To, Date, Message-ID and
  List-Unsubscribe are written per recipient, checked as `build_email` checks them.
- Bodies: quoted-printable. A soft line break (`=` CRLF, which decoders drop)
  is put before and after every token, so each token stands alone on an
  encoded line and the text around it is encoded once; a recipient's value is
  encoded the same way (`binascii.b2a_qp`, UTF-8) where the token stood. Every
  encoded line stays within 76 characters, the soft break included.

The result parses to the same headers and the same decoded parts as
`build_email(personalize(compiled, recipient))`, though its soft line breaks
(and multipart boundary) may sit elsewhere; `tests/test_message_template.py`
checks this.
"""

from __future__ import annotations

import binascii
import hashlib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from digest.digests import Recipient
from digest.mail.message import POLICY, _check_header, _domain_of, ascii_address
from digest.render import CompiledDigest, substitutions
from digest.render_view import TOKEN_PATTERN

_CRLF = b"\r\n"
_SOFT = b"=\r\n"
_QP_LINE = 76  # characters, a soft break's "=" included
_MAX_HEADER_LINE = 998


class MessageTemplate:
    """One compiled digest's email with the personal values left open."""

    def __init__(self, compiled: CompiledDigest, sender: str, *, domain: str | None = None):
        self.domain = domain or _domain_of(sender)
        self._from = _header("From", sender)
        self._subject = _header("Subject", compiled.subject)
        self._list_id = _header("List-Id", compiled.list_id)
        self._post = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nMIME-Version: 1.0\r\n"
        parts = [("plain", compiled.text)]
        if compiled.html is not None:
            parts.append(("html", compiled.html))
        self._body = _body(parts)

    def fill(
        self, recipient: Recipient, *, date: datetime | None = None, message_id: str | None = None
    ) -> tuple[str, bytes]:
        """(Message-ID, RFC 5322 bytes) of the email for `recipient`. Raises
        ValueError where `build_email` would (a header value with CR or LF, an
        address or URL a header cannot carry)."""
        values = substitutions(recipient)
        message_id = message_id or make_msgid(domain=self.domain)
        unsubscribe = values["%%DIGEST_UNSUBSCRIBE_URL%%"]
        out = [
            self._from,
            _line("To", ascii_address(recipient.email)),
            self._subject,
            _line("Date", format_datetime(date or datetime.now(UTC))),
            _line("Message-ID", message_id),
            self._list_id,
            _line("List-Unsubscribe", f"<{unsubscribe}>"),
            self._post,
        ]
        for piece in self._body:
            out.append(piece if isinstance(piece, bytes) else _qp(values[piece].encode("utf-8")))
        return message_id, b"".join(out)


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
    digest = hashlib.blake2b(digest_size=12)
    for _, body in parts:
        digest.update(body.encode("utf-8", "surrogatepass"))
    boundary = ("=_tp_" + digest.hexdigest()).encode("ascii")
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
    canonical = body.replace("\r\n", "\n").replace("\n", "\r\n")
    out: list[bytes | str] = []
    for index, piece in enumerate(TOKEN_PATTERN.split(canonical)):
        if index % 2:
            out += [_SOFT, piece, _SOFT]
        elif piece:
            out.append(_qp(piece.encode("utf-8")))
    return out


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
