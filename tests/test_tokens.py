import time

import pytest
from itsdangerous import URLSafeTimedSerializer

from digest.store.subscribers import email_hash
from digest.tokens import BadToken, link_urls, make_token, matches, read_token

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
