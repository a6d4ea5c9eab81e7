"""Delivery batches: plain batches in claim order, or whole groups per digest."""

from __future__ import annotations

from digest.batches import Batches
from digest.editions import Planned
from tests.test_render import sample_digest

DIGESTS = {"a": sample_digest(3), "b": sample_digest(2), "c": sample_digest(1)}


def planned(keys: str) -> list[Planned]:
    return [Planned(None, "2026-11-22", DIGESTS[k], edition_id=i) for i, k in enumerate(keys)]  # type: ignore[arg-type]


def feed(batches: Batches, items: list[Planned]) -> list[list[int]]:
    out = [b for p in items for b in batches.add(p)] + batches.rest()
    return [[p.edition_id for p in b] for b in out]


def test_plain_batches_keep_claim_order():
    assert feed(Batches(2), planned("abcab")) == [[0, 1], [2, 3], [4]]


def test_grouped_batches_hold_each_digest_until_its_group_is_full():
    items = planned("abacaab")
    # The rest share batches (the mailer still sends each digest in its own request).
    assert feed(Batches(100, group_size=3), items) == [[0, 2, 4], [1, 6, 3], [5]]


def test_grouped_batches_flush_everything_past_the_hold_limit():
    items = planned("abcabc")
    assert feed(Batches(100, group_size=3, hold_limit=4), items) == [[0, 3, 1], [2], [4, 5]]
