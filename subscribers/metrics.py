"""`GET /metrics`: Prometheus text of the database's state (`digest.metrics`).

Who may scrape: with `DIGEST_METRICS_TOKEN` set, any client that sends
`Authorization: Bearer <token>`; without it, only clients on the loopback
interface (a Prometheus or node agent on the same machine). The client address
is the one uvicorn reports, which behind a trusted proxy is the forwarded one,
so a public request relayed by a local proxy is still refused.
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from digest.metrics import CONTENT_TYPE, metrics_text
from digest.triggers import parse_duration
from subscribers.security import client_ip


async def metrics(request: Request) -> Response:
    web = request.app.state.web
    refused = _refusal(request, web.settings.metrics_token)
    if refused is not None:
        return refused

    within = parse_duration(web.settings.queue.stalled_after).total_seconds()

    def read() -> str:
        with web.engine.connect() as conn:
            return metrics_text(conn, web.clock(), workers_within=within)

    body = await run_in_threadpool(read)
    return Response(body, media_type=CONTENT_TYPE)


def _refusal(request: Request, token) -> Response | None:
    """None when the request may read the metrics, else the answer to give."""
    if token is not None:
        sent = request.headers.get("authorization", "")
        scheme, _, value = sent.partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), expected):
            return None
        return PlainTextResponse(
            "A bearer token is required.\n",
            401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    if _is_loopback(client_ip(request)):
        return None
    return PlainTextResponse(
        "Metrics answer only to local clients unless DIGEST_METRICS_TOKEN is set.\n", 403
    )


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # "testclient", a Unix socket peer: not an IP on loopback
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack socket
    return address.is_loopback
