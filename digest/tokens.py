"""Signed tokens for links in emails, one salt per purpose (DESIGN.md "Tokens").

Confirmation tokens expire after 7 days. Unsubscribe and preferences tokens
never expire: an email from last year must still unsubscribe; a new secret key
revokes them all. Each token carries the subscriber id and a short hash of the
address, so a token cannot act on a later subscriber who reuses an id.

Every email carries three never-expiring tokens (unsubscribe, preferences,
view), so they are minted by `Minter`: what itsdangerous's
`URLSafeSerializer.dumps` makes (the payload never compressed) and read back
by it, without rebuilding the serializer, signer and derived key for every
token.
"""

from __future__ import annotations

import functools
import hmac
import json
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode

from digest.store.subscribers import email_hash

PURPOSES = ("confirm", "unsubscribe", "preferences")
CONFIRM_MAX_AGE = 7 * 24 * 3600


class BadToken(Exception):
    """Invalid, tampered, expired, or for another purpose."""


def _serializer(secret: str, purpose: str):
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    salt = f"digest.{purpose}"
    if purpose == "confirm":
        return URLSafeTimedSerializer(secret, salt=salt)
    return URLSafeSerializer(secret, salt=salt)


class Minter:
    """`URLSafeSerializer(secret, salt=salt).dumps`, the same token for the same
    object whenever zlib would not shorten its payload, with the JSON encoder,
    the serializer and the HMAC keyed by itsdangerous's derived key made once:
    each token is the payload (compact JSON, URL-safe base64), its separator
    and the payload's signature. `URLSafeSerializer.loads` reads it."""

    def __init__(self, secret: str, salt: str) -> None:
        signer = URLSafeSerializer(secret, salt=salt).make_signer()
        self._sep = signer.sep
        self._mac = hmac.new(signer.derive_key(), digestmod=signer.digest_method)

    def dumps(self, obj: Any) -> str:
        payload = _payload(obj)
        mac = self._mac.copy()
        mac.update(payload)
        return (payload + self._sep + base64_encode(mac.digest())).decode("ascii")


# itsdangerous's `_CompactJSON.dumps`, with its encoder made once.
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _payload(obj: Any) -> bytes:
    """`URLSafeSerializerMixin.dump_payload` (itsdangerous 2.x) without its
    attempt to compress: the payload is always the plain form, which its
    `loads` reads like the compressed one. For our payloads (an id, a hash
    prefix, a period) zlib is hardly ever shorter, and trying it set up a
    32 KB window for each of three tokens per email (about 80 us each)."""
    return base64_encode(_COMPACT_JSON.encode(obj).encode("utf-8"))


@functools.lru_cache(maxsize=32)
def minter(secret: str, salt: str) -> Minter:
    """The `Minter` of one key and salt (a process uses a handful)."""
    return Minter(secret, salt)


def make_token(secret: str, purpose: str, subscriber_id: int, email: str) -> str:
    return _make_token(secret, purpose, subscriber_id, email_hash(email)[:16])


def _make_token(secret: str, purpose: str, subscriber_id: int, prefix: str) -> str:
    if purpose == "confirm":  # timed: carries the moment it was made
        return _serializer(secret, purpose).dumps([subscriber_id, prefix])
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return minter(secret, f"digest.{purpose}").dumps([subscriber_id, prefix])


def read_token(secret: str, purpose: str, token: str) -> tuple[int, str]:
    """Return (subscriber id, address hash prefix); BadToken otherwise. The
    caller checks the prefix against the subscriber's current address."""
    serializer = _serializer(secret, purpose)
    try:
        if purpose == "confirm":
            data = serializer.loads(token, max_age=CONFIRM_MAX_AGE)
        else:
            data = serializer.loads(token)
    except SignatureExpired:
        raise BadToken("this link has expired") from None
    except BadSignature:
        raise BadToken("this link is not valid") from None
    if not (isinstance(data, list) and len(data) == 2 and isinstance(data[0], int)):
        raise BadToken("this link is not valid")
    return data[0], data[1]


def make_edition_token(secret: str, subscriber_id: int, email: str, period: str) -> str:
    """The "view in browser" token of one edition; never expires, like unsubscribe."""
    return minter(secret, "digest.edition").dumps([subscriber_id, email_hash(email)[:16], period])


def read_edition_token(secret: str, token: str) -> tuple[int, str, str]:
    """(subscriber id, address hash prefix, period); BadToken otherwise."""
    try:
        data = URLSafeSerializer(secret, salt="digest.edition").loads(token)
    except BadSignature:
        raise BadToken("this link is not valid") from None
    valid = isinstance(data, list) and len(data) == 3 and isinstance(data[0], int)
    if not valid or not all(isinstance(item, str) for item in data[1:]):
        raise BadToken("this link is not valid")
    return data[0], data[1], data[2]


def matches(email: str, hash_prefix: str) -> bool:
    return email_hash(email)[:16] == hash_prefix


def link_urls(base_url: str, secret: str, subscriber_id: int, email: str) -> tuple[str, str]:
    """(unsubscribe URL, preferences URL) for one subscriber."""
    prefix = email_hash(email)[:16]
    unsubscribe = _make_token(secret, "unsubscribe", subscriber_id, prefix)
    preferences = _make_token(secret, "preferences", subscriber_id, prefix)
    return f"{base_url}/unsubscribe/{unsubscribe}", f"{base_url}/preferences/{preferences}"
