"""Abuse resistance and browser hardening for the web app.

- `SecurityHeaders`: CSP (no inline script, no framing), no referrer (URLs carry
  tokens), nosniff; a response may set its own CSP (the email views, which need
  inline styles and may be framed by our own preview page).
- `RateLimiter`: a per-IP sliding window for form posts, in process memory
  (one `digest serve` process; behind several, put a limit in the proxy too).
- CSRF: a signed double-submit cookie for the preferences forms. Unsubscribe
  needs none (RFC 8058's one-click POST carries no cookies by design).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.requests import Request

PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "font-src 'self'; form-action 'self'; frame-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
# Rendered emails: inline styles, remote images and fonts, nothing active; our
# own preview page may frame them.
EMAIL_CSP = (
    "default-src 'none'; style-src 'unsafe-inline' https:; img-src https: data:; "
    "font-src https: data:; form-action 'none'; frame-ancestors 'self'; base-uri 'none'"
)
CSRF_COOKIE = "digest_csrf"


class SecurityHeaders:
    """ASGI middleware adding the headers every response should carry."""

    def __init__(self, app, *, https: bool) -> None:
        self.app, self.https = app, https

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = PAGE_CSP
                    headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
                headers.setdefault("Cache-Control", "no-store")
                if self.https:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RateLimiter:
    """At most `limit` hits per key within `window` seconds."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._hits: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        now = self.clock()
        if len(self._hits) > 10_000:
            self._forget_idle(now)
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        return True

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]:
            del self._hits[key]


def client_ip(request: Request) -> str:
    """The client's address as uvicorn reports it (it applies X-Forwarded-For
    only from the proxies `digest serve --forwarded-allow-ips` trusts)."""
    return request.client.host if request.client else "unknown"


def csrf_pair(secret: str, request: Request) -> tuple[str, str]:
    """(cookie value, form field value) for a page with a protected form; the
    visitor's existing cookie is kept so several open tabs all work."""
    cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    return cookie, _sign(secret, cookie)


def csrf_ok(secret: str, request: Request, field: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not field:
        return False
    return hmac.compare_digest(_sign(secret, cookie), field)


def _sign(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), b"csrf:" + value.encode(), hashlib.sha256).hexdigest()
