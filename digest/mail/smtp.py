"""Any SMTP server through smtplib, configured by DIGEST_SMTP_URL.

    smtp://user:password@host:587             STARTTLS (required unless ?starttls=false)
    smtps://user:password@host:465            TLS from the first byte
    smtp://relay.internal:25?starttls=false   a trusted local relay, no TLS

User and password are URL-decoded (write `@` as `%40`); `?timeout=SECONDS`
sets the socket timeout (default 30). DIGEST_SMTP_CA_FILE names extra CA
certificates to trust (a private CA; the tests' self-signed certificate).

One provider call is one message (`one_call_each`). One connection is reused
across calls and reopened when the server has dropped it. Each message's
outcome comes from its own replies:
- 250 after the message: sent (its Message-ID is stored).
- 5xx to MAIL, RCPT or the message: failed with the server's reason (a 550
  for one recipient fails that message only).
- 4xx, a refused connection, or a connection lost before the end of the
  message was sent: nothing was accepted; retried with backoff, then released.
- connection lost after the whole message was sent, before the server's
  reply: the server may have accepted it: "unknown", never retried.
- 535 (bad user or password), no AUTH or no STARTTLS offered, a TLS
  certificate that does not verify, 530 (authentication required):
  `AuthError`, which stops the run.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from digest.digests import Message
from digest.mail.base import AuthError, Outcome, one_call_each
from digest.mail.message import ascii_address
from digest.mail.message_template import EmailCache
from digest.mail.retry import Backoff
from digest.text import one_line

TIMEOUT = 30.0
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = True
    user: str | None = None
    password: str | None = None
    timeout: float = TIMEOUT
    ca_file: str | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def parse_smtp_url(url: str, ca_file: str | None = None) -> SmtpConfig:
    """The settings in an smtp:// or smtps:// URL. Raises ValueError with a
    message that never repeats the URL (it holds the password)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("must start with smtp:// (STARTTLS) or smtps:// (implicit TLS)")
    if not parts.hostname:
        raise ValueError("names no host, e.g. smtp://user:password@mail.example.org:587")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has a port that is not a number from 1 to 65535") from None
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"starttls", "timeout"})
    if unknown:
        raise ValueError(f"has unknown parameters: {', '.join(unknown)} (known: starttls, timeout)")
    implicit = parts.scheme == "smtps"
    starttls = _flag(query.get("starttls", ["true"])[-1]) and not implicit
    try:
        timeout = float(query.get("timeout", [TIMEOUT])[-1])
    except ValueError:
        raise ValueError("timeout must be a number of seconds") from None
    if not 0 < timeout <= 600:
        raise ValueError("timeout must be between 0 and 600 seconds")
    return SmtpConfig(
        host=parts.hostname,
        port=port or (465 if implicit else 587),
        implicit_tls=implicit,
        starttls=starttls,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        timeout=timeout,
        ca_file=ca_file,
    )


def _flag(value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError("starttls must be true or false")


class _Transient(Exception):
    """Certainly not accepted; another try may succeed."""


class SmtpMailer:
    name = "smtp"
    calls = staticmethod(one_call_each)

    def __init__(self, config: SmtpConfig, sender: str, *, backoff: Backoff | None = None):
        self.config = config
        self.sender = sender
        self.envelope_from = parseaddr(sender)[1]
        self.backoff = backoff or Backoff()
        self.emails = EmailCache(sender)  # MIME once per distinct digest
        self.context = ssl.create_default_context(cafile=config.ca_file)
        self._conn: smtplib.SMTP | None = None

    def send(self, call: Sequence[Message]) -> list[Outcome]:
        return [self._send_one(message) for message in call]

    def _send_one(self, message: Message) -> Outcome:
        try:
            message_id, payload = self.emails.email(message)
            to = ascii_address(message.to)
        except ValueError as exc:
            return Outcome("failed", error=str(exc))
        attempt = 0
        while True:
            attempt += 1
            try:
                outcome = self._transaction(to, payload)
            except _Transient as exc:
                if self.backoff.wait(attempt):
                    continue
                return Outcome("released", error=f"{exc} ({attempt} tries); released")
            self.backoff.succeeded()
            if outcome.status == "sent":
                outcome.message_id = message_id
            return outcome

    def _transaction(self, to: str, payload: bytes) -> Outcome:
        """MAIL, RCPT, DATA and the message on the open connection (opened or
        reopened as needed). A connection that was reused and turns out to
        have been closed by the server is reopened once at once."""
        reused = self._conn is not None
        conn = self._connection()
        try:
            steps = (("MAIL FROM", lambda: conn.mail(self.envelope_from)),
                     ("RCPT TO", lambda: conn.rcpt(to)),
                     ("DATA", lambda: conn.docmd("DATA")))  # fmt: skip
            for step, command in steps:
                code, reply = command()
                if reused and step == "MAIL FROM" and code == 421:
                    raise smtplib.SMTPServerDisconnected("421 at MAIL FROM")
                expected = 354 if step == "DATA" else 250
                if code != expected and not (step == "RCPT TO" and code == 251):
                    return self._refused(step, code, reply)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            if reused:
                return self._transaction(to, payload)  # the idle connection had gone
            reason = f"the SMTP server dropped the connection before the message: {exc}"
            raise _Transient(reason) from None
        try:
            conn.send(_dot_stuffed(payload))
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            # The final "." never went out, so the server cannot have accepted it.
            self._drop()
            raise _Transient(f"the connection broke while sending the message: {exc}") from None
        try:
            code, reply = conn.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            reason = f"the SMTP server sent no reply after the whole message ({exc}); not retried"
            return Outcome("unknown", error=one_line(reason, 300))
        if code == 250:
            return Outcome("sent")
        return self._refused("end of message", code, reply)

    def _refused(self, step: str, code: int, reply: bytes) -> Outcome:
        text = one_line(reply.decode("utf-8", "replace"), 300)
        if code == 530:
            raise AuthError(f"the SMTP server {self.config.where} requires authentication: "
                            f"put user:password in DIGEST_SMTP_URL ({code} {text})")  # fmt: skip
        if code == 421:
            self._drop()
        else:
            self._reset()
        if 400 <= code < 500:
            raise _Transient(f"the SMTP server answered {code} {text} to {step}")
        return Outcome("failed", error=f"the SMTP server answered {code} {text} to {step}")

    def _connection(self) -> smtplib.SMTP:
        if self._conn is not None:
            return self._conn
        c = self.config
        conn: smtplib.SMTP | None = None
        try:
            if c.implicit_tls:
                conn = smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout, context=self.context)
            else:
                conn = smtplib.SMTP(c.host, c.port, timeout=c.timeout)
                if c.starttls:
                    conn.ehlo()
                    if not conn.has_extn("starttls"):
                        raise AuthError(
                            f"the SMTP server {c.where} does not offer STARTTLS: use smtps:// "
                            "or, for a trusted local relay only, ?starttls=false in DIGEST_SMTP_URL"
                        )
                    conn.starttls(context=self.context)
            if c.user is not None:
                conn.login(c.user, c.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            _close(conn)
            text = one_line(_text(exc.smtp_error), 200)
            raise AuthError(
                f"the SMTP server {c.where} refused the user name or password in "
                f"DIGEST_SMTP_URL ({exc.smtp_code} {text})"
            ) from None
        except smtplib.SMTPNotSupportedError:
            _close(conn)
            raise AuthError(
                f"the SMTP server {c.where} does not offer AUTH for the user in DIGEST_SMTP_URL "
                "(over an unencrypted connection most servers do not)"
            ) from None
        except ssl.SSLCertVerificationError as exc:
            _close(conn)
            raise AuthError(
                f"cannot verify the TLS certificate of the SMTP server {c.where}: "
                f"{exc.verify_message}; set DIGEST_SMTP_CA_FILE to trust a private CA"
            ) from None
        except AuthError:
            _close(conn)
            raise
        except (OSError, smtplib.SMTPException) as exc:
            _close(conn)
            raise _Transient(f"cannot connect to the SMTP server {c.where}: {exc}") from None
        self._conn = conn
        return conn

    def _reset(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        _close(self._conn)
        self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._conn.quit()
        self._drop()


def _dot_stuffed(payload: bytes) -> bytes:
    """The message as DATA carries it (RFC 5321 4.5.2), ending in CRLF.CRLF."""
    body = re.sub(rb"(?m)^\.", b"..", payload)
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _close(conn: smtplib.SMTP | None) -> None:
    if conn is not None:
        with contextlib.suppress(OSError):
            conn.close()
