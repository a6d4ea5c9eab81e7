"""SendGrid's v3 Mail Send API through the `sendgrid` package.

Grouping (DESIGN.md "Grouping"): messages that share a compiled digest (equal
`Message.template.key`) go in one request of up to 1000 personalizations; the
request carries the shared subject, text and html with the personal tokens in,
and each personalization carries that recipient's token values as
`substitutions`, its own List-Unsubscribe/List-Unsubscribe-Post/List-Id headers
and `custom_args` {"delivery_id": "<edition id>"} (opaque: the event webhook
maps events back to editions by it; never an address). A message whose values
would break SendGrid's substitution rules (more than 10,000 bytes, or a value
that itself looks like a token) gets a request of its own with its content
already filled in. Click, open and subscription tracking are off.

Answers (each request is one provider call; see `digest.mail.base`):
- 2xx: sent; the `X-Message-Id` answer header is stored on every edition.
- 429, 5xx, a refused connection, a connect timeout: nothing was delivered;
  retried with backoff (`digest.mail.retry`), honouring Retry-After and
  X-RateLimit-Reset, then released for the next run.
- no answer after the request went out (read timeout, connection dropped
  mid-answer): SendGrid may have accepted it and has no idempotency key, so
  it is never retried: "unknown".
- 400, 413: rejected on its merits: "failed" with SendGrid's reason. When the
  errors name particular personalizations, only those fail and the rest are
  sent again at once (a 400 delivered nothing).
- 401, 403: `AuthError`, which stops the run.
"""

from __future__ import annotations

import functools
import http.client
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parseaddr
from urllib.error import URLError

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from digest.digests import Message
from digest.http import retry_after_seconds
from digest.mail.base import AuthError, MailError, Outcome, Status
from digest.mail.keepalive import Connection, KeepAliveClient
from digest.mail.message import ascii_address
from digest.mail.retry import Backoff
from digest.render_view import TOKEN_PATTERN, TOKEN_PREFIX, fill_tokens, json_escaped
from digest.text import one_line

DEFAULT_HOST = "https://api.sendgrid.com"
MAX_PERSONALIZATIONS = 1000
SUBSTITUTIONS_LIMIT = 10_000  # bytes of keys and values per personalization
TIMEOUT = 30.0  # seconds, for connecting and for each read of the answer
TRACKING_OFF = {
    "click_tracking": {"enable": False, "enable_text": False},
    "open_tracking": {"enable": False},
    "subscription_tracking": {"enable": False},
}
_PERSONALIZATION_FIELD = re.compile(r"^personalizations\.(\d+)\b")
_APART = "\0"  # in no token (TOKEN_PREFIX)


class SendGridMailer:
    name = "sendgrid"
    group_size = MAX_PERSONALIZATIONS  # run_send hands over whole groups (digest.batches)

    def __init__(
        self,
        api_key: str,
        sender: str,
        *,
        host: str = DEFAULT_HOST,
        timeout: float = TIMEOUT,
        backoff: Backoff | None = None,
        substitutions_limit: int = SUBSTITUTIONS_LIMIT,
    ) -> None:
        self.client = SendGridAPIClient(api_key, host=host)
        # The package's HTTP client, over one connection reused between requests.
        self.connection = Connection(host)
        stock = self.client.client
        self.client.client = KeepAliveClient(
            host=stock.host,
            request_headers=stock.request_headers,
            version=stock._version,
            timeout=timeout,
            connection=self.connection,
        )
        self.sender = sender
        self.backoff = backoff or Backoff()
        self.substitutions_limit = substitutions_limit

    def calls(self, batch: Sequence[Message]) -> list[list[Message]]:
        """One call per distinct template (and kind of mail), of at most
        `group_size` (1000) messages, each address at most once per call; one call each for the
        messages that cannot share."""
        out: list[list[Message]] = []
        open_calls: dict[tuple[str, str], list[tuple[list[Message], set[str]]]] = {}
        for message in batch:
            if not self.shareable(message):
                out.append([message])
                continue
            assert message.template is not None
            chunks = open_calls.setdefault((message.kind, message.template.key), [])
            address = message.to.lower()
            for call, addresses in chunks:
                if len(call) < self.group_size and address not in addresses:
                    break
            else:
                call, addresses = [], set()
                chunks.append((call, addresses))
                out.append(call)
            call.append(message)
            addresses.add(address)
        return out

    def shareable(self, message: Message) -> bool:
        """Whether SendGrid can fill this message's tokens server-side."""
        if message.template is None:
            return False
        values = message.substitutions
        if not values:
            return True
        # The values joined by a character no token holds, so that a token
        # found in the joined text lies within one value; measured at once
        # (asked for every message of every call, twice for a shared one).
        texts = _APART.join(values.values())
        size = len("".join(values).encode()) + len(texts.encode()) - len(values) + 1
        # A value that looks like a token might be substituted again.
        return size <= self.substitutions_limit and TOKEN_PREFIX not in texts

    def send(self, call: Sequence[Message]) -> list[Outcome]:
        """One Mail Send request for `call` (retried only while nothing can
        have been delivered). Raises AuthError on 401/403."""
        if len(call) > 1 and not self._one_group(call):
            raise MailError("a SendGrid call must hold messages of one digest (see calls())")
        outcomes: list[Outcome | None] = [None] * len(call)
        ready: list[int] = []
        for i, message in enumerate(call):
            problem = _unsendable(message)
            if problem:
                outcomes[i] = Outcome("failed", error=problem)
            else:
                ready.append(i)
        if ready:
            for i, outcome in zip(ready, self._post([call[i] for i in ready]), strict=True):
                outcomes[i] = outcome
        return [o for o in outcomes if o is not None]

    def _one_group(self, call: Sequence[Message]) -> bool:
        keys = {(m.kind, m.template.key if m.template else None) for m in call}
        return len(keys) == 1 and all(self.shareable(m) for m in call)

    def _post(self, messages: list[Message]) -> list[Outcome]:
        if isinstance(self.client.client, KeepAliveClient):
            body = encoded_body(messages, self.sender)
        else:  # the package's own client (a benchmark's) encodes the dict itself
            body = request_body(messages, self.sender)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.client.client.mail.send.post(request_body=body)
            except HTTPError as exc:
                status = exc.status_code
                if status in (401, 403):
                    raise AuthError(auth_problem(status, exc.body)) from None
                if status == 429 or status >= 500:
                    reason = f"SendGrid answered {status}{_reasons(exc.body, ': ')}"
                    if self.backoff.wait(attempt, pause_hint(exc.headers, self.backoff.clock())):
                        continue
                    return _all(messages, "released", f"{reason} ({attempt} tries); released")
                self.backoff.succeeded()
                return self._rejected(messages, status, exc.body)
            except URLError as exc:
                # urllib raises URLError only while connecting and writing the
                # request: SendGrid never got a whole request.
                if self.backoff.wait(attempt):
                    continue
                reason = f"cannot reach SendGrid: {exc.reason} ({attempt} tries); released"
                return _all(messages, "released", one_line(reason, 300))
            except (OSError, http.client.HTTPException) as exc:
                # The request went out and its answer was lost: maybe accepted.
                reason = (
                    f"no answer from SendGrid after the request was sent ({type(exc).__name__}: "
                    f"{exc}); it may have been accepted, so it was not retried"
                )
                return _all(messages, "unknown", one_line(reason, 300))
            self.backoff.succeeded()
            return _all(messages, "sent", message_id=response.headers.get("X-Message-Id"))

    def _rejected(self, messages: list[Message], status: int, body: bytes) -> list[Outcome]:
        """A 4xx other than 401/403: fail the personalizations SendGrid names
        and send the others again, or fail them all when it names none."""
        errors = _errors(body)
        by_index: dict[int, list[dict]] = {}
        for error in errors:
            match = _PERSONALIZATION_FIELD.match(str(error.get("field")))
            if match and int(match[1]) < len(messages):
                by_index.setdefault(int(match[1]), []).append(error)
        if not by_index or len(by_index) == len(messages):
            reason = f"SendGrid rejected it ({status}){_reasons(body, ': ')}"
            return _all(messages, "failed", reason)
        rest = [m for i, m in enumerate(messages) if i not in by_index]
        retried = iter(self._post(rest))
        outcomes = []
        for i in range(len(messages)):
            if i in by_index:
                mine = json.dumps({"errors": by_index[i]}).encode()
                reason = f"SendGrid rejected it ({status}){_reasons(mine, ': ')}"
                outcomes.append(Outcome("failed", error=reason))
            else:
                outcomes.append(next(retried))
        return outcomes

    def close(self) -> None:
        self.connection.close()


def request_body(messages: Sequence[Message], sender: str) -> dict:
    """The Mail Send JSON for `messages`: one personalization each. Several
    messages share their template and carry substitutions; a single message
    goes with its content filled in."""
    first = messages[0]
    shared = len(messages) > 1
    if shared:
        assert first.template is not None
        subject, text, html = first.template.subject, first.template.text, first.template.html
    else:
        subject, text, html = first.subject, first.text, first.html
    content = [{"type": "text/plain", "value": text}]
    if html is not None:
        content.append({"type": "text/html", "value": html})
    name, address = _parsed_sender(sender)
    return {
        "from": {"email": address, **({"name": name} if name else {})},
        "subject": subject,
        "content": content,
        "personalizations": [_personalization(m, shared) for m in messages],
        "categories": [first.kind],
        "tracking_settings": TRACKING_OFF,
    }


def encoded_body(messages: Sequence[Message], sender: str) -> bytes:
    """`request_body` as the JSON bytes sent. For a template whose html came
    JSON-escaped from the run's fragments (`Template.html_json`), the html
    goes in without being escaped again (a digest's html is most of a
    request, and its cards and frame recur across the run's digests): as it
    is for a shared template, filled with the message's values for a single
    message (`_filled_json`); the rest is encoded as usual."""
    body = request_body(messages, sender)
    template = messages[0].template
    html_json = None
    if template is not None and template.html_json is not None:
        html_json = template.html_json
        if len(messages) == 1:
            html_json = _filled_json(html_json, messages[0].substitutions)
    if html_json is None:
        return json.dumps(body).encode("utf-8")
    text, _ = body.pop("content")
    content = f'[{json.dumps(text)},{{"type": "text/html", "value": "{html_json}"}}]'
    return f'{json.dumps(body)[:-1]}, "content": {content}}}'.encode()


def _filled_json(html_json: str, values: Mapping[str, str]) -> str | None:
    """The html `values` fill into a template, as `json.dumps` writes it
    between its quotes, from the template's `html_json`: its tokens replaced
    by the values, each escaped alone (escaping works character by
    character, so escaping the pieces is escaping the whole, and a token is
    plain ASCII, the same escaped or not). None when a token has no value."""
    parts = TOKEN_PATTERN.split(html_json)
    try:
        return fill_tokens(parts, {t: json_escaped(values[t]) for t in parts[1::2]})
    except KeyError:
        return None


@functools.lru_cache(maxsize=8)
def _parsed_sender(sender: str) -> tuple[str, str]:
    """(name, address) of `sender`, parsed once (every request carries it)."""
    return parseaddr(sender)


def _personalization(message: Message, shared: bool) -> dict:
    out: dict = {"to": [{"email": ascii_address(message.to)}], "headers": dict(message.headers)}
    if shared:
        out["substitutions"] = dict(message.substitutions)
    if message.edition_id is not None:
        out["custom_args"] = {"delivery_id": str(message.edition_id)}
    return out


def _unsendable(message: Message) -> str | None:
    """Why SendGrid could never take this message, or None."""
    try:
        ascii_address(message.to)
    except ValueError as exc:
        return str(exc)
    for header, value in message.headers.items():
        if any(c in value for c in "\r\n\0"):
            return f"header {header} must be one line"
    return None


def _all(
    messages: Sequence[Message], status: Status, error: str | None = None, message_id=None
) -> list[Outcome]:
    return [Outcome(status, message_id=message_id, error=error) for _ in messages]


def _errors(body: bytes | str | None) -> list[dict]:
    try:
        errors = json.loads(body or b"{}").get("errors") or []
    except (ValueError, AttributeError):
        return []
    return [e for e in errors if isinstance(e, dict)]


def _reasons(body: bytes | str | None, prefix: str = "") -> str:
    """SendGrid's error messages as one short line ("" when there are none)."""
    parts = []
    for error in _errors(body):
        field = error.get("field")
        message = str(error.get("message") or "").strip()
        parts.append(f"{field}: {message}" if field else message)
    text = one_line("; ".join(p for p in parts if p), 500)
    return prefix + text if text else ""


def auth_problem(status: int, body: bytes | str | None) -> str:
    """One line naming the key problem (never the key)."""
    reason = _reasons(body, ": ")
    if status == 401:
        return (
            f"SendGrid refused SENDGRID_API_KEY (401 Unauthorized{reason}): "
            "the key is wrong, revoked or expired"
        )
    return (
        f"SendGrid refused to send with SENDGRID_API_KEY (403 Forbidden{reason}): the key needs "
        "the Mail Send permission and DIGEST_FROM a verified sender identity"
    )


def pause_hint(headers: Mapping[str, str] | None, now: float) -> float | None:
    """Seconds SendGrid asked us to wait (Retry-After, else X-RateLimit-Reset,
    a Unix time), or None."""
    if headers is None:
        return None
    moment = datetime.fromtimestamp(now, UTC)
    retry_after = retry_after_seconds(headers.get("Retry-After"), moment)
    if retry_after is not None:
        return retry_after
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            return None
    return None
