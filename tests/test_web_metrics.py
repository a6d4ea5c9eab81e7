"""GET /metrics on the web app: Prometheus text read back with the reference
parser; who may scrape it (loopback, or a bearer token); the send-rate gauge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from digest.config import load_settings
from digest.metrics import CONTENT_TYPE
from tests.pipeline_helpers import DAY1, send, store, subscribe, vision_paper
from tests.test_metrics import parse
from tests.web_helpers import BASE_URL, make_web

TOKEN = "scrape-me-7f3a"


def client_from(web, host: str) -> TestClient:
    return TestClient(web.client.app, base_url=BASE_URL, client=(host, 40000))


@pytest.fixture
def web(database_url, tmp_path):
    web = make_web(database_url, tmp_path)
    yield web
    web.close()


@pytest.fixture
def guarded(database_url, tmp_path):
    web = make_web(database_url, tmp_path, metrics_token=TOKEN)
    yield web
    web.close()


def test_a_loopback_client_reads_metrics_the_reference_parser_accepts(web):
    subscribe(web.engine, "ada@example.org")
    with client_from(web, "127.0.0.1") as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE
    metrics = parse(response.text)
    assert metrics["digest_subscribers"][(("status", "active"),)] == 1
    assert metrics["digest_editions"][(("status", "sent"),)] == 0
    assert metrics["digest_send_rate_messages_per_second"] == {(): 0}


@pytest.mark.parametrize("host", ["::1", "::ffff:127.0.0.1", "127.0.0.9"])
def test_every_loopback_address_counts_as_local(web, host):
    with client_from(web, host) as client:
        assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize("host", ["203.0.113.7", "10.0.0.2", "testclient"])
def test_without_a_token_other_clients_are_refused(web, host):
    with client_from(web, host) as client:
        response = client.get("/metrics")
    assert response.status_code == 403
    assert "digest_" not in response.text and "DIGEST_METRICS_TOKEN" in response.text


def test_with_a_token_only_the_bearer_reads_from_anywhere(guarded):
    with client_from(guarded, "203.0.113.7") as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
        basic = client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
        assert basic.status_code == 401
        ok = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200 and "digest_editions" in ok.text
    with client_from(guarded, "127.0.0.1") as client:
        assert client.get("/metrics").status_code == 401  # the token binds loopback too


def test_the_send_rate_counts_the_last_five_minutes(web, tmp_path):
    for n in range(3):
        subscribe(web.engine, f"reader{n}@example.org")
    store(web.engine, [vision_paper(n, DAY1) for n in range(3)], DAY1)
    sent_at = DAY1 + timedelta(hours=8)
    assert send(web.engine, tmp_path / "sent", sent_at).counts["sent"] == 3

    with client_from(web, "127.0.0.1") as client:
        web.clock.now = sent_at + timedelta(minutes=1)
        soon = parse(client.get("/metrics").text)
        web.clock.now = sent_at + timedelta(minutes=6)
        later = parse(client.get("/metrics").text)

    assert soon["digest_send_rate_messages_per_second"] == {(): 3 / 300}
    assert later["digest_send_rate_messages_per_second"] == {(): 0}
    assert soon["digest_last_send_timestamp_seconds"] == {(): sent_at.timestamp()}


def test_the_token_may_come_from_a_file(tmp_path):
    secret = tmp_path / "metrics-token"
    secret.write_text(TOKEN + "\n")
    settings = load_settings(
        None, environ={"DIGEST_CONFIG": "", "DIGEST_METRICS_TOKEN_FILE": str(secret)}
    )
    assert settings.metrics_token.get_secret_value() == TOKEN
