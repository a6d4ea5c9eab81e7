import json
import random
import time
import zlib

import pytest
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

from digest.store.subscribers import email_hash
from digest.tokens import (
    BadToken,
    _compress,
    link_urls,
    make_edition_token,
    make_token,
    matches,
    minter,
    read_edition_token,
    read_token,
)

SECRET = "s3cret"


def test_it_round_trips_each_purpose_and_binds_the_address():
    for purpose in ("confirm", "unsubscribe", "preferences"):
        token = make_token(SECRET, purpose, 42, "Ada@Example.org")
        subscriber_id, prefix = read_token(SECRET, purpose, token)
        assert subscriber_id == 42
        assert matches("ada@example.org", prefix) and not matches("bob@example.org", prefix)


def test_it_refuses_another_purpose_a_tampered_token_and_another_key():
    token = make_token(SECRET, "unsubscribe", 42, "ada@example.org")
    with pytest.raises(BadToken):
        read_token(SECRET, "preferences", token)
    with pytest.raises(BadToken):
        read_token(
            SECRET, "unsubscribe", token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
        )
    with pytest.raises(BadToken):
        read_token("another-key", "unsubscribe", token)


def test_confirmation_links_expire_after_seven_days_and_unsubscribe_links_never():
    class EightDaysAgo(URLSafeTimedSerializer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            signer = self.signer

            class OldSigner(signer):
                def get_timestamp(self):
                    return int(time.time()) - 8 * 24 * 3600

            self.signer = OldSigner

    old = EightDaysAgo(SECRET, salt="digest.confirm").dumps([42, email_hash("a@example.org")[:16]])
    with pytest.raises(BadToken, match="expired"):
        read_token(SECRET, "confirm", old)
    unsubscribe = make_token(SECRET, "unsubscribe", 42, "a@example.org")
    assert read_token(SECRET, "unsubscribe", unsubscribe)[0] == 42


def test_it_builds_links_on_the_base_url():
    unsubscribe, preferences = link_urls("https://papers.example.org", SECRET, 7, "a@example.org")
    assert unsubscribe.startswith("https://papers.example.org/unsubscribe/")
    assert preferences.startswith("https://papers.example.org/preferences/")
    assert unsubscribe.rsplit("/", 1)[1] != preferences.rsplit("/", 1)[1]


def test_minted_tokens_are_exactly_itsdangerous_tokens_and_read_back():
    # Links already sent must keep working and new ones must read with the
    # same code: each token equals URLSafeSerializer.dumps, compressed
    # payloads (a repetitive one) and non-ASCII text included.
    objects = [
        [42, email_hash("ada@example.org")[:16]],
        [7, "0" * 16],  # zlib makes this one shorter: the "." form
        [123456789, email_hash("b@example.org")[:16], "2026-W47"],
        [1, "aaaaaaaaaaaaaaaa", "x" * 200],
        [3, "é中", "2026-11-22"],
    ]
    for salt in ("digest.unsubscribe", "digest.preferences", "digest.edition"):
        for secret in (SECRET, "another-key"):
            for obj in objects:
                expected = URLSafeSerializer(secret, salt=salt).dumps(obj)
                assert minter(secret, salt).dumps(obj) == expected
    assert minter(SECRET, "digest.edition").dumps(objects[1]).startswith(".")


def test_links_and_edition_tokens_read_back_with_the_existing_readers():
    for sid, email in [(7, "a@example.org"), (98765, "Ünï@Example.org")]:
        for url in link_urls("https://papers.example.org", SECRET, sid, email):
            purpose, token = url.rsplit("/", 2)[1:]
            expected = URLSafeSerializer(SECRET, salt=f"digest.{purpose}").dumps(
                [sid, email_hash(email)[:16]]
            )
            assert token == expected
            assert read_token(SECRET, purpose, token) == (sid, email_hash(email)[:16])
        token = make_edition_token(SECRET, sid, email, "2026-11-22")
        assert read_edition_token(SECRET, token) == (sid, email_hash(email)[:16], "2026-11-22")


def test_short_payloads_compress_exactly_as_zlib_compress():
    # The token minter compresses short payloads with a small window; the
    # bytes must be zlib.compress's, repetitive, random and token-like alike.
    rng = random.Random(20261129)
    alphabets = [b"0", b"01", b"0123456789abcdef", bytes(range(32, 127)), bytes(range(256))]
    cases = [b"", b'[7,"0000000000000000"]', b"a" * 200, b"ab" * 100]
    for _ in range(20_000):
        alphabet = rng.choice(alphabets)
        cases.append(bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 201))))
    for length in range(0, 201, 7):
        cases.append(json.dumps([rng.randrange(10**9), "x" * length, "2026-11-29"]).encode())
    for data in cases:
        assert _compress(data) == zlib.compress(data), data
