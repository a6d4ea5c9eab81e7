"""`digest send` and `digest preview` from the command line, on the real clock."""

import email
from datetime import UTC, datetime, timedelta
from email import policy

from digest.db.engine import open_engine
from tests.cli_helpers import run_digest
from tests.pipeline_helpers import store, subscribe, vision_paper


def prepare(database_url, tmp_path, subscribers=("ada@example.org", "bob@example.org")):
    now = datetime.now(UTC)
    engine = open_engine(database_url)
    for address in subscribers:
        subscribe(engine, address, now=now)
    store(engine, [vision_paper(n, now - timedelta(hours=3)) for n in range(3)], now)
    engine.dispose()
    return {"DIGEST_DATABASE_URL": database_url, "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox")}


def test_it_sends_dry_runs_and_only_one_subscriber(database_url, tmp_path):
    env = prepare(database_url, tmp_path)
    outbox = tmp_path / "outbox"
    dry = run_digest(["send", "--now", "--dry-run"], env)
    assert dry.exit_code == 0, dry.stderr
    assert dry.stdout.count("would send") == 2 and not outbox.exists()
    only = run_digest(["send", "--now", "--only", "ADA@example.org"], env)
    assert only.exit_code == 0, only.stderr
    assert "1 sent" in only.stdout and len(list(outbox.glob("*.eml"))) == 1
    rest = run_digest(["send", "--now"], env)
    assert "1 sent" in rest.stdout and len(list(outbox.glob("*.eml"))) == 2
    again = run_digest(["send", "--now"], env)
    assert again.exit_code == 0 and "nothing due" in again.stdout
    assert len(list(outbox.glob("*.eml"))) == 2
    status = run_digest(["status"], env)
    assert status.exit_code == 0 and "2 sent" in status.stdout


def test_it_previews_in_every_format_without_recording(database_url, tmp_path):
    env = prepare(database_url, tmp_path, subscribers=("ada@example.org",))
    text = run_digest(["preview", "--topic", "computer-vision", "--format", "text"], env)
    assert text.exit_code == 0, text.stderr
    assert "https://arxiv.org/abs/2611.14000" in text.stdout
    out = tmp_path / "ada.eml"
    eml = run_digest(
        ["preview", "--email", "ada@example.org", "--format", "eml", "-o", str(out)], env
    )
    assert eml.exit_code == 0, eml.stderr
    message = email.message_from_bytes(out.read_bytes(), policy=policy.default)
    assert message.get_content_type() == "multipart/alternative" and message["List-Unsubscribe"]
    mjml = run_digest(["preview", "--email", "ada@example.org", "--format", "mjml"], env)
    assert mjml.stdout.lstrip().startswith("<mjml")
    html = run_digest(["preview", "--email", "ada@example.org"], env)
    assert "<html" in html.stdout
    # Nothing was recorded: the real send still has the edition to send.
    sent = run_digest(["send", "--now"], env)
    assert "1 sent" in sent.stdout


def test_it_explains_bad_preview_and_send_arguments(database_url, tmp_path):
    env = prepare(database_url, tmp_path, subscribers=())
    for args, fragment in [
        (["preview"], "either --email or --topic"),
        (["preview", "--topic", "astrology"], "astrology"),
        (["preview", "--email", "nobody@example.org"], "no subscriber"),
        (["preview", "--topic", "nlp", "--format", "pdf"], "--format"),
        (["send", "--date", "yesterday"], "--date: expected a date"),
        (["send", "--only", "nobody@example.org"], "no subscriber"),
        (["preview", "--topic", "nlp", "--now"], "--now works with --email"),
        (["preview", "--topic", "nlp", "--date", "2026-11-31"], "--date: expected a date"),
        (
            ["preview", "--topic", "computer-vision", "-o", str(tmp_path / "no" / "x.html")],
            "--output",
        ),
        (["subscribers", "export", "-o", str(tmp_path)], "--output"),
    ]:
        result = run_digest(args, env)
        assert result.exit_code == 1, args
        assert fragment in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


def test_it_shares_a_send_among_processes(database_url, tmp_path):
    readers = [f"reader{n}@example.org" for n in range(6)]
    env = prepare(database_url, tmp_path, readers)
    shared = run_digest(["send", "--now", "--processes", "3"], env)
    assert shared.exit_code == 0, shared.stderr
    assert "6 sent" in shared.stdout and len(list((tmp_path / "outbox").glob("*.eml"))) == 6
    status = run_digest(["status"], env)
    assert status.exit_code == 0 and "6 sent" in status.stdout
    bad = run_digest(["send", "--now", "--processes", "0"], env)
    assert bad.exit_code != 0 and "--processes" in bad.stderr
    unset = run_digest(["send", "--now"], {**env, "DIGEST_SEND_PROCESSES": "many"})
    assert unset.exit_code == 1 and "DIGEST_SEND_PROCESSES" in unset.stderr
