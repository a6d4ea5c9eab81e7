"""The mail side of `benchmarks/daily_run.py`: the mailers it sends through,
the local fake SendGrid it sends to, and the naive per-email baseline.

- `--mailer sendgrid` (the default): the production `SendGridMailer` against
  `tests/fakes/sendgrid_server.py` on loopback, run in a process of its own
  (so its work is not charged to the sender) and keeping only counts.
- `--mailer mime`: a stand-in for SMTP that builds each message's RFC 5322
  bytes and drops them, through the production `EmailCache` (`--mime
  template`) or `build_email` per message (`--mime per-message`).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from digest.digests import Message, Recipient
from digest.mail.base import Outcome, one_call_each
from digest.mail.message import build_email, email_bytes
from digest.mail.message_template import EmailCache
from digest.mail.sendgrid import SendGridMailer, request_body
from digest.render import SiteInfo, render_digest

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "SG.test-key"  # the fake's key (tests/fakes/sendgrid_server.API_KEY)


class CountingMailer:
    """Stands in for SMTP: one provider call per message, carrying the RFC 5322
    bytes it would send (built, then dropped)."""

    name = "benchmark"
    calls = staticmethod(one_call_each)

    def __init__(self, sender: str, *, templates: bool, date: datetime) -> None:
        self.sender, self.templates, self.date = sender, templates, date
        self.emails = EmailCache(sender)
        self.requests = self.bytes = 0

    def send(self, call: Sequence[Message]) -> list[Outcome]:
        self.requests += 1
        outcomes = []
        for message in call:
            if self.templates:
                message_id, data = self.emails.email(message, date=self.date)
            else:
                email = build_email(message, self.sender, date=self.date)
                message_id, data = email["Message-ID"], email_bytes(email)
            self.bytes += len(data)
            outcomes.append(Outcome("sent", message_id=message_id))
        return outcomes

    def close(self) -> None:
        pass


def make_mailer(kind: str, mime: str, site: SiteInfo, url: str | None, date: datetime):
    if kind == "sendgrid":
        assert url is not None
        return SendGridMailer(API_KEY, site.sender, host=url)
    return CountingMailer(site.sender, templates=mime == "template", date=date)


@contextlib.contextmanager
def fake_sendgrid(kind: str, tls: tuple[Path, Path] | None = None) -> Iterator[str | None]:
    """The URL of a counts-only fake SendGrid in a child process (None for
    the mime mailer), stopped on exit; `tls`: (certificate, key) to serve https."""
    if kind != "sendgrid":
        yield None
        return
    options = ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])] if tls else []
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.sendgrid_server", *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        if not url.startswith(("http://", "https://")):
            raise RuntimeError("the fake SendGrid server did not start")
        yield url
    finally:
        child.terminate()
        child.wait(10)


def server_counts(url: str | None) -> dict[str, int]:
    """The fake's counts: requests received and accepted, recipients, bytes,
    connections, and its CPU seconds since it started ({} without a server)."""
    if url is None:
        return {}
    with urllib.request.urlopen(f"{url}/stats", timeout=10) as answer:
        return json.loads(answer.read())


def naive_seconds_per_email(
    sample: list, kind: str, site: SiteInfo, url: str | None, date: datetime
) -> tuple[float, float]:
    """(wall, CPU) seconds per email of the naive path: Jinja + MJML compiled
    for this one email, then (sendgrid) one API request for it through the
    `sendgrid` package as shipped, or (mime) its MIME bytes built; measured
    over `sample` after one untimed email (warm templates)."""
    recipient = Recipient(1, "reader@example.org", site.base_url + "/u/x", site.base_url + "/p/x")
    client = None
    if kind == "sendgrid":
        from sendgrid import SendGridAPIClient

        client = SendGridAPIClient(API_KEY, host=url)

    def one(digest) -> None:
        message = render_digest(digest, site, recipient)
        if client is not None:
            client.client.mail.send.post(request_body=request_body([message], site.sender))
        else:
            email_bytes(build_email(message, site.sender, date=date))

    # The first email loads and compiles the Jinja templates, about 20 ms: a
    # cost of the process, not of an email (on a sample of nine digests it
    # added a third or more to the figure). Sent untimed.
    if sample:
        one(sample[0])
    started, cpu_started = time.perf_counter(), time.process_time()
    for digest in sample:
        one(digest)
    count = max(len(sample), 1)
    return (time.perf_counter() - started) / count, (time.process_time() - cpu_started) / count
