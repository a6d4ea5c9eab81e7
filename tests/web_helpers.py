"""Builders for web app tests: the app on a test database with a held clock,
the outbox it mails to, links read from those emails, SendGrid's signing."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient

from digest.config import Settings
from digest.wiring import Runtime
from subscribers.app import create_app
from tests.pipeline_helpers import read_outbox

BASE_URL = "http://testserver"
SECRET = "web-test-secret"
START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@dataclass
class WebApp:
    client: TestClient
    runtime: Runtime
    outbox: Path
    clock: Clock
    signer: ec.EllipticCurvePrivateKey = field(repr=False, default=None)

    @property
    def engine(self):
        return self.runtime.engine

    def emails(self):
        return read_outbox(self.outbox)

    def close(self) -> None:
        """Release the app's database connections (PostgreSQL has a limit)."""
        self.client.close()
        self.engine.dispose()


def make_signer() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A P-256 key pair; the public half as SendGrid shows it (base64 DER)."""
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(der).decode()


def sign(private: ec.EllipticCurvePrivateKey, body: bytes, timestamp: str) -> str:
    """SendGrid's signature: ECDSA/SHA-256 over timestamp + raw body, base64 DER."""
    signature = private.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return base64.b64encode(signature).decode()


def make_web(
    database_url: str, tmp_path: Path, *, form_rate=(1000, 60.0), **settings_extra
) -> WebApp:
    private, public = make_signer()
    outbox = tmp_path / "outbox"
    settings = Settings(
        database_url=database_url,
        outbox_dir=outbox,
        base_url=BASE_URL,
        secret_key=SECRET,
        sendgrid_webhook_key=public,
        sender="Trending Papers <digest@example.org>",
        **settings_extra,
    )
    runtime = Runtime(settings)
    clock = Clock()
    app = create_app(runtime, clock=clock, form_rate=form_rate)
    client = TestClient(app, base_url=BASE_URL, follow_redirects=False)
    return WebApp(client, runtime, outbox, clock, private)


def link_in(message, path: str) -> str:
    """The first link to `path` (e.g. "/confirm/") in the email's text part."""
    text = message.get_body(("plain",)).get_content()
    match = re.search(re.escape(BASE_URL + path) + r"[^\s>]+", text)
    assert match, f"no {path} link in: {text[:400]}"
    return match.group(0)[len(BASE_URL) :]


def signup_form(email: str = "ada@example.org", **extra) -> dict:
    form = {
        "email": email,
        "name": "Ada",
        "topics": ["computer-vision", "nlp"],
        "frequency": "daily",
        "weekday": "mon",
        "hour": "7",
        "timezone": "Europe/Berlin",
        "format": "html",
        "keywords": "",
        "website": "",
    }
    form.update(extra)
    return form
