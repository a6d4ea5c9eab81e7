"""`digest.status`: the data behind `digest status`, and the last send's record."""

from __future__ import annotations

from digest.status import collect, last_send, mask_email, record_send, who
from tests.pipeline_helpers import subscribe


def test_it_masks_addresses():
    assert mask_email("carol@example.org") == "c***@example.org"
    assert who(3, "carol@example.org") == "#3 c***@example.org"
    assert who(3, None) == "#3"


def test_it_keeps_the_last_send_record(engine):
    with engine.begin() as conn:
        assert last_send(conn) is None
    record_send(engine, {"ok": False, "summary": "1 released", "problems": ["outbox full"]})
    record_send(engine, {"ok": True, "summary": "2 sent", "problems": []})
    with engine.begin() as conn:
        assert last_send(conn) == {"ok": True, "summary": "2 sent", "problems": []}


def test_collect_is_plain_data(engine):
    subscribe(engine, "carol@example.org")
    with engine.begin() as conn:
        data = collect(conn)
    assert data["subscribers"] == {"active": 1} and data["papers"] == 0
    assert data["editions"] == {} and data["sources"] == [] and data["last_send"] is None
