"""Signed tokens for links in emails, one salt per purpose (DESIGN.md "Tokens").

Confirmation tokens expire after 7 days. Unsubscribe and preferences tokens
never expire: an email from last year must still unsubscribe; a new secret key
revokes them all. Each token carries the subscriber id and a short hash of the
address, so a token cannot act on a later subscriber who reuses an id.
"""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

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


def make_token(secret: str, purpose: str, subscriber_id: int, email: str) -> str:
    return _serializer(secret, purpose).dumps([subscriber_id, email_hash(email)[:16]])


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
    serializer = URLSafeSerializer(secret, salt="digest.edition")
    return serializer.dumps([subscriber_id, email_hash(email)[:16], period])


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
    unsubscribe = make_token(secret, "unsubscribe", subscriber_id, email)
    preferences = make_token(secret, "preferences", subscriber_id, email)
    return f"{base_url}/unsubscribe/{unsubscribe}", f"{base_url}/preferences/{preferences}"
