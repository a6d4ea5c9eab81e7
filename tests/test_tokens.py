import time

import pytest
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

from digest.store.subscribers import email_hash
from digest.tokens import (
    BadToken,
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


def test_minted_tokens_are_itsdangerous_tokens_and_read_back():
    # Links already sent must keep working and new ones must read with the
    # same code: each token equals URLSafeSerializer.dumps where zlib does not
    # shorten the payload, and reads back with URLSafeSerializer.loads always
    # (repetitive and non-ASCII payloads included).
    plain = [
        [42, email_hash("ada@example.org")[:16]],
        [123456789, email_hash("b@example.org")[:16], "2026-W47"],
        [3, "é中", "2026-11-22"],
    ]
    compressible = [[7, "0" * 16], [1, "aaaaaaaaaaaaaaaa", "x" * 200]]
    for salt in ("digest.unsubscribe", "digest.preferences", "digest.edition"):
        for secret in (SECRET, "another-key"):
            serializer = URLSafeSerializer(secret, salt=salt)
            for obj in plain:
                assert minter(secret, salt).dumps(obj) == serializer.dumps(obj)
            for obj in plain + compressible:
                token = minter(secret, salt).dumps(obj)
                assert not token.startswith(".")  # never the compressed form
                assert serializer.loads(token) == obj
    # What itsdangerous itself made (compressed, for a repetitive payload) still reads.
    made = URLSafeSerializer(SECRET, salt="digest.unsubscribe").dumps([7, "0" * 16])
    assert made.startswith(".")
    assert read_token(SECRET, "unsubscribe", made) == (7, "0" * 16)


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
