"""A rendered `Message` as an RFC 5322 email: `multipart/alternative`, text/plain
first and text/html second (the last part is the preferred one), UTF-8 bodies in
quoted-printable so no line exceeds 76 characters.

Header values must be single lines: a CR or LF would let feed text or a stored
value add headers (BCC injection), so `build_email` refuses them outright.
"""

from __future__ import annotations

import binascii
import hashlib
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, make_msgid, parseaddr

import idna

from digest.digests import Message

# Headers that carry one URL or identifier each: folding or RFC 2047-encoding
# them would break them (a List-Unsubscribe URL split into encoded words no
# longer works), so they are written whole; RFC 5322 still caps lines at 998.
_UNFOLDED = frozenset({"list-unsubscribe", "list-unsubscribe-post", "list-id", "message-id"})
_MAX_HEADER_LINE = 998


class DigestPolicy(EmailPolicy):
    """The SMTP policy (CRLF, 78-column folding), except `_UNFOLDED` headers,
    which are kept on one line."""

    def fold(self, name: str, value: str) -> str:
        if self._keep_whole(name, value):
            return f"{name}: {value}{self.linesep}"
        return super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        if self._keep_whole(name, value):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)

    @staticmethod
    def _keep_whole(name: str, value: str) -> bool:
        if name.lower() not in _UNFOLDED:
            return False
        text = str(value)
        if not text.isascii() or len(name) + 2 + len(text) > _MAX_HEADER_LINE:
            # Folding would encode it and break the URL or id inside: refuse.
            raise ValueError(f"{name} does not fit on one header line")
        return True


POLICY = DigestPolicy(linesep="\r\n")


def build_email(
    message: Message,
    sender: str,
    *,
    date: datetime | None = None,
    message_id: str | None = None,
    domain: str | None = None,
) -> EmailMessage:
    """The email for `message` from `sender`. Adds From, To, Subject, Date,
    Message-ID (on `domain`, else the sender's domain) and MIME-Version, then
    `message.headers`. Raises ValueError for a header value holding CR or LF."""
    headers = {
        "From": sender,
        "To": ascii_address(message.to),
        "Subject": message.subject,
        "Date": format_datetime(date or datetime.now(UTC)),
        "Message-ID": message_id or make_msgid(domain=domain or _domain_of(sender)),
        **message.headers,
    }
    for name, value in headers.items():
        _check_header(name, value)
    email = EmailMessage(policy=POLICY)
    for name, value in headers.items():
        email[name] = value
    email["MIME-Version"] = "1.0"
    if message.html is None:
        _set_text(email, message.text, "plain")
    else:
        # "=_" never occurs in quoted-printable output, so this boundary cannot
        # collide with the body and the generator need not search for one. It
        # is derived from the content (the shared template's, when there is
        # one, as `MessageTemplate` does) so the same message builds identically.
        shared = message.template or message
        boundary = multipart_boundary(shared.text, shared.html)
        email["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
        for body, subtype in ((message.text, "plain"), (message.html, "html")):
            part = EmailMessage(policy=POLICY)
            _set_text(part, body, subtype)
            email.attach(part)
    return email


def ascii_address(address: str) -> str:
    """The address as a header may carry it: an international domain in its
    IDNA (xn--) form. A non-ASCII local part would need SMTPUTF8, which we do
    not use: ValueError (sign-ups refuse such addresses in the first place)."""
    local, _, domain = address.rpartition("@")
    if not local.isascii():
        raise ValueError("addresses with non-ASCII characters before the @ are not supported")
    if domain.isascii():
        return address
    try:
        return f"{local}@{idna.encode(domain).decode('ascii')}"
    except idna.IDNAError as exc:
        raise ValueError(f"cannot encode the domain of {address!r}: {exc}") from None


def _set_text(part: EmailMessage, body: str, subtype: str) -> None:
    """Make `part` UTF-8 quoted-printable text. binascii's C encoder does what
    `set_content(cte="quoted-printable")` does (76-character lines, soft breaks)
    several times faster, which matters with a 100 KB HTML part per email."""
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    part["Content-Transfer-Encoding"] = "quoted-printable"
    # Canonical CRLF line breaks (RFC 2045): get_content() then returns the same
    # text before and after a round trip through bytes.
    canonical = body.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    part.set_payload(binascii.b2a_qp(canonical, istext=True).decode("ascii"))


def multipart_boundary(text: str, html: str | None) -> str:
    """The boundary of a message with these parts: a function of its content."""
    digest = hashlib.blake2b(digest_size=12)
    for body in (text, html or ""):
        digest.update(body.encode("utf-8", "surrogatepass"))
    return "=_tp_" + digest.hexdigest()


def email_bytes(email: EmailMessage) -> bytes:
    """RFC 5322 bytes with CRLF line endings, ready for SMTP or an `.eml` file."""
    return email.as_bytes(policy=POLICY)


def _check_header(name: str, value: str) -> None:
    if not isinstance(value, str):
        raise ValueError(f"header {name} must be a string")
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ValueError(f"header {name} must be one line (found CR, LF or NUL)")


def _domain_of(sender: str) -> str | None:
    _, at, domain = parseaddr(sender)[1].rpartition("@")
    return domain if at and domain else None
