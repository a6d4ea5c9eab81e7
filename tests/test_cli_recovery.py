"""Recovery from the command line: `digest status` names `unknown` editions and
what to do, and `digest send --resend-unknown` does it."""

import json
from datetime import UTC, datetime

from digest.db.engine import open_engine
from tests.cli_helpers import run_digest
from tests.recovery_helpers import claim_all, die, hand_over_all
from tests.test_cli_send import prepare


def test_status_lists_unknown_editions_and_resend_unknown_sends_them(database_url, tmp_path):
    env = prepare(database_url, tmp_path)
    engine = open_engine(database_url)
    run, planned = claim_all(engine, datetime.now(UTC), mailer="sendgrid")
    hand_over_all(engine, run, planned[:1])  # in a SendGrid request ...
    die(run)  # ... when the process died
    engine.dispose()
    sent = run_digest(["send", "--now"], env)
    assert sent.exit_code == 0, sent.stderr
    assert "Recovered interrupted runs first: 1 released, 1 unknown." in sent.stdout
    assert "1 sent" in sent.stdout
    status = run_digest(["status"], env)
    assert "unknown via sendgrid" in status.stdout
    assert "1 unknown: may or may not have been delivered" in status.stdout
    assert "digest send --resend-unknown" in status.stdout
    report = json.loads(run_digest(["status", "--json"], env).stdout)
    (problem,) = report["delivery"]["problems"]
    assert problem["status"] == "unknown" and problem["mailer"] == "sendgrid"
    assert report["delivery"]["last_send"]["outcome"] == "finished"
    resent = run_digest(["send", "--now", "--resend-unknown"], env)
    assert resent.exit_code == 0 and "Send: 1 resent." in resent.stdout
    assert "Recovered" not in resent.stdout  # nothing to recover: nothing said
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2
    after = json.loads(run_digest(["status", "--json"], env).stdout)
    assert after["delivery"]["problems"] == [] and after["editions"] == {"sent": 2}


def test_status_lists_every_unknown_of_a_large_lost_request(database_url, tmp_path):
    """One lost SendGrid request can leave up to 1000 editions `unknown`: the
    JSON report lists every one (the operator looks each up), the text the
    latest 20 and how many more."""
    addresses = tuple(f"reader{i}@example.org" for i in range(25))
    env = prepare(database_url, tmp_path, subscribers=addresses)
    engine = open_engine(database_url)
    run, planned = claim_all(engine, datetime.now(UTC), mailer="sendgrid")
    hand_over_all(engine, run, planned)  # one request of 25 ...
    die(run)  # ... when the process died
    engine.dispose()
    sent = run_digest(["send", "--now"], env)
    assert "Recovered interrupted runs first: 25 unknown." in sent.stdout
    report = json.loads(run_digest(["status", "--json"], env).stdout)
    problems = report["delivery"]["problems"]
    assert sorted(p["id"] for p in problems) == sorted(p.edition_id for p in planned)
    assert {p["status"] for p in problems} == {"unknown"}
    text = run_digest(["status"], env).stdout
    assert text.count(": unknown via sendgrid:") == 20
    assert "... and 5 more unknown (`digest status --json` lists them all)" in text
    assert "25 unknown: may or may not have been delivered" in text
