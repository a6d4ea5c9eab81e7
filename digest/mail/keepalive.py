"""python_http_client (the `sendgrid` package's HTTP layer) over one reused
connection.

As shipped it builds a urllib opener per request, and urllib sends
`Connection: close`: every Mail Send request opens a new TCP connection and,
over https, loads the system CA store and makes a new TLS handshake. A run
makes one request per distinct digest, so at volume that is most of the
sending time. `KeepAliveClient` replaces only the step that makes the request
(`_make_request`, the package's own seam) with one `http.client` connection
kept open between requests, and keeps urllib's contract, which the SendGrid
mailer's error handling relies on:

- a failure while connecting or writing the request raises `URLError` (the
  server never had a whole request);
- a failure while waiting for or reading the answer propagates as it is
  (`OSError`, `http.client.HTTPException`: the request may have been taken);
- a non-2xx answer raises the package's `HTTPError` subclass for its status.

A reused connection the server may have closed is not written to: it is
dropped when it is readable while idle (the server's close has arrived) or
has been idle longer than `IDLE_LIMIT` (before a server's idle timeout closes
it under us), so a closed idle connection never turns a request into a lost
answer. When a proxy is configured for the host (`https_proxy` and friends),
requests go through urllib as before (the proxy settings are read when the
mailer is made).

The package's request step (`http_request`) also builds a urllib opener for
every request (its handler classes, about 0.65 ms) and formats the whole
request body into a debug line whether or not debug logging is on;
`KeepAliveClient` makes the same request without either: an opener is built
only for a request that goes through urllib.
"""

from __future__ import annotations

import functools
import http.client
import io
import json
import select
import ssl
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message as Headers
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from python_http_client import Client
from python_http_client.client import Response
from python_http_client.exceptions import handle_error

IDLE_LIMIT = 15.0  # seconds; servers commonly close idle connections after 60


@dataclass
class Answer:
    """What python_http_client reads from a urllib response."""

    status: int
    body: bytes
    headers: Headers

    def getcode(self) -> int:
        return self.status

    def read(self) -> bytes:
        return self.body

    def info(self) -> Headers:
        return self.headers


class Connection:
    """One HTTP(S) connection to `base_url`'s host, opened when needed and kept
    open between requests."""

    def __init__(self, base_url: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        parts = urlsplit(base_url)
        self.scheme, self.host = parts.scheme, parts.hostname or ""
        self.port = parts.port or (443 if self.scheme == "https" else 80)
        self.clock = clock
        self.opened = 0  # connections opened or tried (tests, benchmarks)
        self._context = ssl.create_default_context() if self.scheme == "https" else None
        self._conn: http.client.HTTPConnection | None = None
        self._idle_since = 0.0
        # Read once: the environment does not change under a run.
        self._direct = self.scheme not in urllib.request.getproxies() or bool(
            urllib.request.proxy_bypass(self.host)
        )

    def serves(self, request: urllib.request.Request) -> bool:
        """Whether `request` goes to this connection's host without a proxy."""
        return self._direct and request.type == self.scheme and request.host == self._netloc()

    def open(self, request: urllib.request.Request, timeout: float | None) -> Answer:
        conn = self._ready(timeout)
        headers = {name.title(): value for name, value in request.header_items()}
        try:
            conn.request(request.get_method(), request.selector, request.data, headers)
        except OSError as exc:
            self.close()
            raise URLError(exc) from None
        try:
            response = conn.getresponse()
            body = response.read()
        except BaseException:
            self.close()
            raise
        if response.will_close:
            self.close()
        self._idle_since = self.clock()
        if not 200 <= response.status < 300:
            error = HTTPError(
                request.full_url,
                response.status,
                response.reason,
                response.headers,
                io.BytesIO(body),
            )
            raise handle_error(error)
        return Answer(response.status, body, response.headers)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _ready(self, timeout: float | None) -> http.client.HTTPConnection:
        if self._conn is not None and (
            self.clock() - self._idle_since > IDLE_LIMIT or _readable(self._conn)
        ):
            self.close()
        if self._conn is None:
            if self._context is not None:
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=timeout, context=self._context
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        self._conn.timeout = timeout
        if self._conn.sock is None:
            self.opened += 1  # `request` connects
        else:
            self._conn.sock.settimeout(timeout)
        return self._conn

    def _netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def _readable(conn: http.client.HTTPConnection) -> bool:
    """An idle connection with something to read: the server closed it (or
    sent what it should not have); either way it cannot carry a request."""
    if conn.sock is None:
        return False
    try:
        ready, _, _ = select.select([conn.sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(ready)


class KeepAliveClient(Client):
    """A python_http_client `Client` whose requests share `connection`."""

    def __init__(self, *args, connection: Connection, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.connection = connection
        # The clients of the chain's segments (`client.mail.send`), made once
        # rather than at every request; kept per setting they copy.
        self._segments: dict[tuple, KeepAliveClient] = {}

    def _build_client(self, name=None):
        if not name:
            return self._new_client(self._url_path)
        key = (name, self.host, self._version, self.append_slash, self.timeout)
        segment = self._segments.get(key)
        if segment is None:
            segment = self._segments[key] = self._new_client(self._url_path + [name])
        return segment

    def _new_client(self, url_path: list) -> KeepAliveClient:
        return KeepAliveClient(
            host=self.host,
            version=self._version,
            request_headers=self.request_headers,
            url_path=url_path,
            append_slash=self.append_slash,
            timeout=self.timeout,
            connection=self.connection,
        )

    def __getattr__(self, name):
        if name in self.methods:  # the end of a chain such as `client.mail.send.post`
            return functools.partial(self._request, name.upper())
        return super().__getattr__(name)

    def _request(
        self,
        method: str,
        request_body=None,
        query_params=None,
        request_headers=None,
        timeout=None,
        **_,
    ) -> Response:
        """The package's `http_request` (same arguments, body encoding, headers
        and answer), without its per-request opener and debug formatting."""
        if request_headers:
            self._update_headers(request_headers)
        data = None if request_body is None else self._encode(request_body)
        request = urllib.request.Request(
            self._build_url(query_params), headers=self.request_headers, data=data, method=method
        )
        return Response(self._make_request(None, request, timeout=timeout))

    def _encode(self, body) -> bytes:
        """As the package does: JSON unless another Content-Type was set;
        bytes are a body already encoded as JSON."""
        if isinstance(body, bytes):
            self.request_headers.setdefault("Content-Type", "application/json")
            return body
        kind = self.request_headers.get("Content-Type")
        if kind is not None and kind != "application/json":
            return body.encode("utf-8")
        self.request_headers.setdefault("Content-Type", "application/json")
        return json.dumps(body).encode("utf-8")

    def _make_request(self, opener, request, timeout=None):
        if not self.connection.serves(request):
            opener = opener or urllib.request.build_opener()  # proxied: urllib as shipped
            return super()._make_request(opener, request, timeout)
        return self.connection.open(request, timeout or self.timeout)
