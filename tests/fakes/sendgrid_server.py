"""A local stand-in for SendGrid's `POST /v3/mail/send` on 127.0.0.1.

It checks what SendGrid documents (bearer auth; `from`; `subject`; `content`
with text/plain first, then text/html; 1-1000 personalizations, each with
`to`, string `headers` (no reserved names), string `substitutions` of at most
10,000 bytes, string `custom_args`; at most 1000 recipients and each address
once per request; up to 10 categories) and answers 202 with `X-Message-Id`,
400 with an `errors` body, 401 for a wrong key, 413 over 30 MB.

Faults for the tests, by request number (1 = the first request received):

    with FakeSendGrid() as server:
        server.fail(2, "429")          # also "500", "503", "slow", "drop", "403"
        server.faults = lambda n: ...  # or decide for every request
        hold = server.hold(3)          # request 3 waits until hold.release.set()
        hold.arrived.wait()
        hold = server.hold(3, accept=False)  # ... and is never accepted

"slow" answers only after `release_slow()` (or the server stops), so a client
with a timeout gives up first; "drop" reads the request and closes the
connection without an answer; "close" answers 202, then closes the connection
without saying so (a server's idle timeout; `closed` is set once it is shut). Both, and held requests, count as accepted (the
worst case for duplicates: SendGrid may well have taken them), except a hold
with `accept=False`: its body is kept in `hold.body`, and once released it is
answered 503 without being accepted (SendGrid never took it; a crash test
then expects its recipients to have the digest only after a resend). `deliveries()`
expands every accepted request into one email per recipient, substitutions
applied, so tests can check each recipient's final content. `connections`
counts the TCP connections that carried Mail Send requests.

For benchmarks, `FakeSendGrid(keep_bodies=False)` keeps only counts
(`counts()`: requests received and accepted, recipients, bytes, connections),
and `python -m tests.fakes.sendgrid_server [--tls-cert PEM --tls-key PEM]` runs
one in its own process (over https with a certificate): it prints its URL, answers `GET /stats` with the counts as JSON, and stops on
SIGTERM or SIGINT.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_KEY = "SG.test-key"
MAX_BODY = 30 * 1024 * 1024
SUBSTITUTIONS_LIMIT = 10_000
CUSTOM_ARGS_LIMIT = 10_000
RESERVED_HEADERS = {
    "x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type",
    "content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc",
}  # fmt: skip
EMAIL = re.compile(r"^[^@\s;,<>]+@[^@\s;,<>]+\.[A-Za-z0-9-]+$")
HOLD_LIMIT = 60.0  # seconds a held or slow request waits at most


@dataclass
class Accepted:
    number: int
    body: dict
    message_id: str
    at: float  # time.monotonic() when it arrived

    @property
    def recipients(self) -> list[str]:
        return [t["email"] for p in self.body["personalizations"] for t in p["to"]]


@dataclass
class Delivery:
    """One recipient's email as SendGrid would build it."""

    to: str
    subject: str
    text: str
    html: str | None
    headers: dict[str, str]
    custom_args: dict[str, str]
    categories: list[str]
    message_id: str
    request: int


@dataclass
class Hold:
    accept: bool = True
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    body: dict | None = None  # the held request, once it arrived

    @property
    def recipients(self) -> list[str]:
        assert self.body is not None, "the held request has not arrived"
        return [t["email"] for p in self.body["personalizations"] for t in p["to"]]


class FakeSendGrid:
    def __init__(
        self,
        api_key: str = API_KEY,
        *,
        keep_bodies: bool = True,
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.api_key = api_key
        self.keep_bodies = keep_bodies
        self.accepted: list[Accepted] = []
        self.received = 0
        self.accepted_count = self.recipients = self.bytes = self.connections = 0
        self.closed = threading.Event()
        self.answers: list[int | str] = []  # per request, in order: status or "drop"
        self.faults: Callable[[int], str | None] = lambda number: None
        self._faults: dict[int, str] = {}
        self._holds: dict[int, Hold] = {}
        self._slow = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", port), _handler_for(self))
        self._server.fake = self
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "https" if tls is not None else "http"
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FakeSendGrid:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._slow.set()
        for hold in self._holds.values():
            hold.release.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{self.scheme}://{host}:{port}"

    def fail(self, number: int, kind: str) -> None:
        self._faults[number] = kind

    def hold(self, number: int, *, accept: bool = True) -> Hold:
        hold = self._holds[number] = Hold(accept=accept)
        return hold

    def release_slow(self) -> None:
        self._slow.set()

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            accepted = list(self.accepted)
        return [d for a in accepted for d in expand(a)]

    def _arrive(self) -> int:
        with self._lock:
            self.received += 1
            return self.received

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "received": self.received,
                "accepted": self.accepted_count,
                "recipients": self.recipients,
                "bytes": self.bytes,
                "connections": self.connections,
            }

    def _accept(self, number: int, body: dict, size: int) -> Accepted:
        accepted = Accepted(number, body, uuid.uuid4().hex[:22], time.monotonic())
        recipients = len(accepted.recipients)
        with self._lock:
            self.accepted_count += 1
            self.recipients += recipients
            self.bytes += size
            if self.keep_bodies:
                self.accepted.append(accepted)
        return accepted

    def _answered(self, number: int, status: int | str) -> None:
        with self._lock:
            self.answers.append(status)

    def _fault(self, number: int) -> str | None:
        return self._faults.get(number) or self.faults(number)


def expand(accepted: Accepted) -> list[Delivery]:
    body = accepted.body
    content = {c["type"]: c["value"] for c in body["content"]}
    out = []
    for p in body["personalizations"]:
        subs = p.get("substitutions", {})
        fill = _substituter(subs)
        for to in p["to"]:
            out.append(
                Delivery(
                    to=to["email"],
                    subject=fill(p.get("subject", body.get("subject", ""))),
                    text=fill(content.get("text/plain", "")),
                    html=fill(content["text/html"]) if "text/html" in content else None,
                    headers={**body.get("headers", {}), **p.get("headers", {})},
                    custom_args={**body.get("custom_args", {}), **p.get("custom_args", {})},
                    categories=list(body.get("categories", [])),
                    message_id=accepted.message_id,
                    request=accepted.number,
                )
            )
    return out


def _substituter(subs: dict[str, str]) -> Callable[[str], str]:
    if not subs:
        return lambda text: text
    pattern = re.compile("|".join(re.escape(k) for k in sorted(subs, key=len, reverse=True)))
    return lambda text: pattern.sub(lambda m: subs[m.group(0)], text)


def validate(body: object) -> list[dict]:
    """SendGrid's documented checks; an empty list when the request is valid."""
    if not isinstance(body, dict):
        return [_error(None, "Bad Request")]
    errors: list[dict] = []
    sender = body.get("from")
    if not isinstance(sender, dict) or not EMAIL.match(str(sender.get("email", ""))):
        errors.append(_error("from", "The from object must be provided for every email send."))
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        errors.append(_error("personalizations", "You must have at least one personalization."))
        personalizations = []
    elif len(personalizations) > 1000:
        errors.append(
            _error(
                "personalizations",
                "The personalization block is limited to 1000 personalizations per API request.",
            )
        )
    subject = body.get("subject")
    if not (isinstance(subject, str) and subject.strip()) and not all(
        isinstance(p, dict) and p.get("subject") for p in personalizations
    ):
        errors.append(_error("subject", "The subject is required."))
    errors += _content_errors(body.get("content"))
    seen: set[str] = set()
    for i, p in enumerate(personalizations):
        errors += _personalization_errors(i, p, seen)
    if len(seen) > 1000:
        errors.append(
            _error(
                "personalizations",
                "There is a limit of 1000 total recipients (to + cc + bcc) per request.",
            )
        )
    categories = body.get("categories", [])
    if not isinstance(categories, list) or len(categories) > 10:
        errors.append(_error("categories", "You may not have more than 10 categories per request."))
    elif any(not isinstance(c, str) or len(c) > 255 for c in categories):
        errors.append(_error("categories", "A category cannot be longer than 255 characters."))
    if not isinstance(body.get("tracking_settings", {}), dict):
        errors.append(_error("tracking_settings", "Invalid type. Expected: object."))
    return errors


def _content_errors(content: object) -> list[dict]:
    if not isinstance(content, list) or not content:
        return [
            _error(
                "content", "Unless a valid template_id is provided, the content array is required."
            )
        ]
    for i, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            return [_error(f"content.{i}.type", "The content type cannot be blank.")]
        if not isinstance(part.get("value"), str) or not part["value"]:
            return [
                _error(
                    f"content.{i}.value",
                    "The content value must be a string at least one character in length.",
                )
            ]
    types = [p["type"] for p in content]
    expected = [t for t in ("text/plain", "text/html") if t in types]
    if types[: len(expected)] != expected:
        return [
            _error(
                "content",
                "If present, text/plain content must be first, followed by text/html, followed by any other content.",
            )
        ]
    return []


def _personalization_errors(i: int, p: object, seen: set[str]) -> list[dict]:
    where = f"personalizations.{i}"
    if not isinstance(p, dict):
        return [_error(where, "Invalid type. Expected: object.")]
    errors = []
    to = p.get("to")
    if not isinstance(to, list) or not to:
        errors.append(
            _error(f"{where}.to", "The to parameter is required for all personalization objects.")
        )
        to = []
    for j, r in enumerate([*to, *p.get("cc", []), *p.get("bcc", [])]):
        address = r.get("email", "") if isinstance(r, dict) else ""
        if not EMAIL.match(str(address)):
            errors.append(_error(f"{where}.to.{j}.email", "Does not contain a valid address."))
        elif address.lower() in seen:
            errors.append(
                _error(
                    f"{where}.to.{j}.email",
                    "Each email address in the personalization block should be unique between to, cc, and bcc.",
                )
            )
        seen.add(str(address).lower())
    for name, limit in (
        ("headers", None),
        ("substitutions", SUBSTITUTIONS_LIMIT),
        ("custom_args", CUSTOM_ARGS_LIMIT),
    ):
        values = p.get(name, {})
        if not isinstance(values, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in values.items()
        ):
            errors.append(
                _error(f"{where}.{name}", f"Invalid type. {name} must be an object of strings.")
            )
            continue
        size = sum(len(k.encode()) + len(v.encode()) for k, v in values.items())
        if limit is not None and size > limit:
            errors.append(
                _error(
                    f"{where}.{name}",
                    f"The total size of {name} may not exceed {limit} bytes per personalization object.",
                )
            )
        if name == "headers":
            bad = [
                k for k in values if k.lower() in RESERVED_HEADERS or " " in k or "\n" in values[k]
            ]
            if bad:
                errors.append(
                    _error(
                        f"{where}.headers",
                        f"These headers are reserved or invalid: {', '.join(bad)}.",
                    )
                )
    return errors


def _error(field: str | None, message: str) -> dict:
    return {"field": field, "message": message, "help": None}


class _Server(ThreadingHTTPServer):
    fake: FakeSendGrid

    def shutdown_request(self, request) -> None:
        super().shutdown_request(request)
        self.fake.closed.set()


def _handler_for(fake: FakeSendGrid) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        counted = False  # this connection has carried a Mail Send request

        def do_GET(self) -> None:
            if self.path != "/stats":
                return self._answer(0, 404, [_error(None, "not found")])
            # The server's own CPU so far: a benchmark on the same machine
            # says how much of it the fake took from the sender.
            payload = json.dumps({**fake.counts(), "cpu_seconds": time.process_time()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            number = fake._arrive()
            if not self.counted:
                self.counted = True
                with fake._lock:
                    fake.connections += 1
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length <= MAX_BODY else b""
            if self.path != "/v3/mail/send":
                return self._answer(number, 404, [_error(None, "not found")])
            if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                return self._answer(
                    number,
                    401,
                    [
                        _error(
                            None, "The provided authorization grant is invalid, expired, or revoked"
                        )
                    ],
                )
            fault = fake._fault(number)
            if fault == "403":
                return self._answer(number, 403, [_error(None, "access forbidden")])
            if fault == "429":
                reset = str(int(time.time()) + 1)
                limits = {
                    "X-RateLimit-Limit": "600",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": reset,
                }
                return self._answer(number, 429, [_error(None, "too many requests")], limits)
            if fault in ("500", "503"):
                return self._answer(
                    number,
                    int(fault),
                    [
                        _error(
                            None,
                            "Internal Server Error" if fault == "500" else "Service Unavailable",
                        )
                    ],
                )
            if length > MAX_BODY:
                return self._answer(number, 413, [_error(None, "Payload Too Large")])
            try:
                body = json.loads(raw)
            except ValueError:
                return self._answer(number, 400, [_error(None, "Bad Request")])
            errors = validate(body)
            if errors:
                return self._answer(number, 400, errors)
            hold = fake._holds.get(number)
            if hold is not None and not hold.accept:
                hold.body = body
                hold.arrived.set()
                hold.release.wait(HOLD_LIMIT)
                return self._answer(number, 503, [_error(None, "Service Unavailable")])
            accepted = fake._accept(number, body, length)
            if fault == "drop":
                fake._answered(number, "drop")
                self.close_connection = True
                return
            if fault == "slow":
                fake._slow.wait(HOLD_LIMIT)
            if hold is not None:
                hold.body = body
                hold.arrived.set()
                hold.release.wait(HOLD_LIMIT)
            self._answer(number, 202, None, {"X-Message-Id": accepted.message_id})
            if fault == "close":
                self.close_connection = True

        def _answer(self, number: int, status: int, errors, headers=None) -> None:
            fake._answered(number, status)
            payload = b"" if errors is None else json.dumps({"errors": errors}).encode()
            try:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def main() -> None:
    """Serve counts only until SIGTERM or SIGINT; the first line printed is the URL."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls-cert", help="serve https with this certificate (PEM)")
    parser.add_argument("--tls-key", help="... and this key (PEM)")
    args = parser.parse_args()
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with FakeSendGrid(keep_bodies=False, port=args.port, tls=tls) as fake:
        print(fake.url, flush=True)
        stop.wait()


if __name__ == "__main__":
    main()
