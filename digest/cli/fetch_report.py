"""How `digest fetch` words a source's failure: the source's name once, and a
hint when the problem is reaching the network rather than the feed itself."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Reasons that mean "we never got an answer from the host" (see digest.http).
NETWORK_SIGNS = (
    "connection failed",
    "connect timeout",
    "name or service not known",
    "temporary failure in name resolution",
    "network is unreachable",
    "no route to host",
    "nodename nor servname",
    "no address associated",
    "connection refused",
)
_URL_PREFIX = re.compile(r"^(https?://\S+?):\s+(.*)$", re.S)


def explain_failure(source: str, error: str) -> str:
    """The failure as one line without the leading "<source>: " (the caller
    names the source), e.g. "could not reach rss.arxiv.org (network
    unreachable? …): connection failed (…)"."""
    reason = error.removeprefix(f"{source}: ")
    lowered = reason.lower()
    if not any(sign in lowered for sign in NETWORK_SIGNS):
        return reason
    match = _URL_PREFIX.match(reason)
    host = urlsplit(match[1]).hostname if match else None
    detail = match[2] if match else reason
    where = host or "the source"
    hint = "network unreachable? check the connection, DNS or proxy settings"
    return f"could not reach {where} ({hint}): {detail}"
