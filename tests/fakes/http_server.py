"""A tiny scripted HTTP server on 127.0.0.1 for tests of code that fetches.

Script responses per path (optionally per exact "path?query"), then point the
code under test at `server.url(path)`. A sequence of responses is served in
order and its last one repeats (e.g. 503 then 200). Every request is recorded
with its path, query and headers.

    with FakeHTTPServer() as server:
        server.script("/rss", Reply(503, headers={"Retry-After": "0"}), Reply(200, body=xml))
        ...
        assert server.requests[0].headers["User-Agent"].startswith("TrendingPapersDigest/")
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    """One scripted response; `delay` seconds pass before the status line."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


class FakeHTTPServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FakeHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def script(self, path: str, *replies: Reply) -> None:
        """Serve `replies` in order at `path` (a path, or an exact "path?query")."""
        with self._lock:
            self._scripts[path] = list(replies)

    def requests_to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def _next_reply(self, path: str, query: str) -> Reply:
        with self._lock:
            replies = self._scripts.get(f"{path}?{query}") or self._scripts.get(path)
            if not replies:
                return Reply(404, b"not scripted")
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)


def _handler_for(fake: FakeHTTPServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            fake._record(
                Recorded("GET", parts.path, parse_qs(parts.query), dict(self.headers.items()))
            )
            reply = fake._next_reply(parts.path, parts.query)
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.status != 304:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if reply.status != 304:
                    self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test); nothing to do

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output quiet

    return Handler
