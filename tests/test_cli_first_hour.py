"""What a newcomer tries in the first hour (issue 6): the demo and what it
leaves behind, unwritable folders, full tables, JSON, honest dry runs, the
last send's failure in `status`, `digest sent`, the console mailer, and
`fetch` when the network is away."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.db.engine import open_engine
from digest.store.papers import get_papers
from digest.topics import load_catalog
from tests.cli_helpers import run_digest
from tests.fakes.feeds import feed
from tests.fakes.http_server import FakeHTTPServer, Reply
from tests.pipeline_helpers import store, subscribe, vision_paper

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    result = run_digest(["demo"], {}, cwd=folder)
    assert result.exit_code == 0, result.stderr
    return folder


@pytest.fixture
def demo_env(demo_folder, tmp_path):
    """A copy of the demo database of one's own (tests that write change it)."""
    shutil.copy(demo_folder / "digest-demo.db", tmp_path / "demo.db")
    return {
        "DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox"),
    }


def one_line_error(result, fragment: str = "") -> None:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("digest: error: "), lines
    assert fragment in lines[0], lines[0]


# Item 1: the demo leaves a database the suggested commands work on.


def abs_ids(text: str) -> set[str]:
    return set(re.findall(r"arxiv\.org/abs/(\d{4}\.\d{5})", text))


def test_preview_topic_date_shows_what_a_new_subscriber_got_that_day(demo_env):
    args = ["preview", "--topic", "robotics", "--format", "text", "--date"]
    day1 = run_digest([*args, "2026-11-19"], demo_env)
    day2 = run_digest([*args, "2026-11-20"], demo_env)
    assert day1.exit_code == 0 and day2.exit_code == 0, day1.stderr + day2.stderr
    ids1, ids2 = abs_ids(day1.stdout), abs_ids(day2.stdout)
    assert ids1 and ids2 and ids1 != ids2
    # Day 1 shows only papers that had reached us by the end of day 1.
    engine = open_engine(demo_env["DIGEST_DATABASE_URL"])
    with engine.begin() as conn:
        seen = {p.key: p.first_seen_at for p in get_papers(conn, ids1).values()}
    engine.dispose()
    assert all(moment < datetime(2026, 11, 20, tzinfo=UTC) for moment in seen.values())
    today = run_digest(["preview", "--topic", "robotics", "--format", "text"], demo_env)
    assert today.exit_code == 0 and "Nothing new" in today.stderr  # samples are old


def test_status_subscribers_and_sent_work_on_the_demo_database(demo_env):
    status = run_digest(["status"], demo_env)
    assert status.exit_code == 0 and "6 sent" in status.stdout
    assert "#1 a***@example.org" in status.stdout and "ada@example.org" not in status.stdout
    listed = run_digest(["subscribers", "list"], demo_env)
    assert listed.exit_code == 0 and "kenji@example.org" in listed.stdout


@pytest.mark.slow
def test_the_demo_prints_commands_that_work_as_printed(tmp_path):
    if not (Path(sys.executable).parent / "digest").exists():
        pytest.skip("needs the README's install: a venv with the digest script")
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGEST_")}
    env["DIGEST_CONFIG"] = ""
    demo = subprocess.run(
        [".venv/bin/digest", "demo"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert demo.returncode == 0, demo.stderr
    printed = demo.stdout.split("Explore it (copy and paste):\n", 1)[1].splitlines()
    lines = [line.strip() for line in printed if line.strip()]
    assert lines[0].startswith("export DIGEST_DATABASE_URL=")
    # ".venv/bin/digest" as typed, or plain "digest" when that same script is on PATH.
    assert all(line.startswith((".venv/bin/digest ", "digest ")) for line in lines[1:]), lines
    for n in range(1, len(lines)):
        script = "set -e\n" + lines[0] + "\n" + lines[n]
        done = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, (lines[n], done.stderr)
        assert done.stdout.strip(), lines[n]
        assert "Traceback" not in done.stderr


# Item 2: a folder that cannot be written.


def test_demo_in_a_folder_that_is_gone_says_so_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from digest.cli import app

    gone = tmp_path / "gone"
    gone.mkdir()
    old = os.getcwd()
    os.chdir(gone)
    gone.rmdir()  # the current folder no longer exists: nothing can be written in it
    try:
        result = CliRunner().invoke(app, ["demo"], env={"DIGEST_CONFIG": ""})
    finally:
        os.chdir(old)
    one_line_error(result)


def test_demo_whose_paths_cannot_be_written_says_so_in_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    db = run_digest(["demo", "--database", str(blocker / "demo.db")], {}, cwd=tmp_path)
    one_line_error(db, "cannot be written")
    outbox = run_digest(["demo"], {"DIGEST_OUTBOX_DIR": str(blocker / "outbox")}, cwd=tmp_path)
    one_line_error(outbox, "cannot be written")
    assert not (tmp_path / "digest-demo.db").exists()  # nothing half-written


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_demo_in_a_read_only_folder_says_so_in_one_line(tmp_path):
    tmp_path.chmod(0o555)
    try:
        one_line_error(run_digest(["demo"], {}, cwd=tmp_path), "Permission denied")
    finally:
        tmp_path.chmod(0o755)


def test_other_unwritable_paths_fail_in_one_line(demo_env, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    read_only = demo_env["DIGEST_DATABASE_URL"].replace("sqlite:///", "sqlite:///file:")
    read_only += "?mode=ro&uri=true"
    cases = [
        (["subscribers", "add", "new@example.org"], {"DIGEST_DATABASE_URL": read_only}),
        (["status"], {"DIGEST_DATABASE_URL": f"sqlite:///{blocker}/x.db"}),
        (["init"], {"DIGEST_DATABASE_URL": f"sqlite:///{blocker}/x.db"}),
        (["subscribers", "export", "-o", str(blocker / "out.csv")], demo_env),
        (["subscribers", "import", str(tmp_path)], demo_env),
        (["preview", "--topic", "nlp", "--date", "2026-11-20", "-o", str(blocker / "x")], demo_env),
    ]
    for args, env in cases:
        one_line_error(run_digest(args, env))


# Item 4: full values, tab-separated when piped, JSON.


def test_tables_piped_are_tab_separated_with_every_value_whole(demo_env):
    topics = run_digest(["topics", "list"], demo_env)
    lines = topics.stdout.splitlines()
    assert lines[0].split("\t") == ["slug", "name", "categories", "description"]
    assert [line.split("\t")[0] for line in lines[1:]] == list(load_catalog())
    assert "…" not in topics.stdout
    long = "a-rather-long-address-for-a-table@research.example.org"
    added = run_digest(["subscribers", "add", long, "--topic", "nlp", "--confirmed"], demo_env)
    assert added.exit_code == 0, added.stderr
    listed = run_digest(["subscribers", "list"], demo_env).stdout
    assert f"\t{long}\tactive\t" in listed
    status = run_digest(["status"], demo_env).stdout
    assert "# Sources" in status and "…" not in status


def test_tables_on_a_narrow_terminal_never_cut_a_value(monkeypatch, capsys):
    from digest.cli import output

    monkeypatch.setenv("COLUMNS", "60")
    monkeypatch.setattr(output.Console, "is_terminal", lambda self: True)
    catalog = load_catalog()
    output.print_table(
        ("slug", "name", "description"),
        [(t.slug, t.name, t.description) for t in catalog.values()],
    )
    shown = capsys.readouterr().out
    assert "…" not in shown and "┃ slug" in shown
    for slug in catalog:
        assert f" {slug} " in shown, slug  # on one line, whole


def test_json_everywhere_a_script_wants_it(demo_env, tmp_path):
    for args in (["status"], ["subscribers", "list"], ["topics", "list"], ["send", "--now"]):
        result = run_digest([*args, "--json"], demo_env)
        assert result.exit_code == 0, (args, result.stderr)
        json.loads(result.stdout)
    status = json.loads(run_digest(["status", "--json"], demo_env).stdout)
    assert status["editions"] == {"empty": 3, "sent": 6} and status["subscribers"] == {"active": 3}
    assert status["last_send"]["ok"] and status["sources"][0]["source"] == "arxiv"
    with FakeHTTPServer() as server:
        server.script("/hf", Reply(200, feed("hf_daily_p0.json")))
        config = tmp_path / "digest.toml"
        config.write_text(
            f'[[sources]]\nname = "hf"\nkind = "hf-daily"\nurl = "{server.url("/hf")}"\n'
        )
        fetched = run_digest(["--config", str(config), "fetch", "--json"], demo_env)
    assert fetched.exit_code == 0, fetched.stderr
    (report,) = json.loads(fetched.stdout)
    assert report["source"] == "hf" and report["fetched"] == 3 and report["error"] is None


# Item 6: a dry run classifies as the real run does.


def test_dry_run_reports_empty_editions_as_the_real_run_does(demo_env):
    dry = run_digest(["send", "--now", "--dry-run", "--json"], demo_env)
    assert dry.exit_code == 0, dry.stderr
    planned = json.loads(dry.stdout)
    assert planned["counts"] == {"empty": 3}
    assert {e["class"] for e in planned["editions"]} == {"empty"}
    text = run_digest(["send", "--now", "--dry-run"], demo_env).stdout
    assert "would send" not in text and "Send (dry run): 3 empty." in text
    real = json.loads(run_digest(["send", "--now", "--json"], demo_env).stdout)
    assert real["counts"] == planned["counts"]


# Item 7: `status` shows that the last send failed.


def fresh_papers_env(database_url, tmp_path, outbox: Path) -> dict[str, str]:
    now = datetime.now(UTC)
    engine = open_engine(database_url)
    subscribe(engine, "ada@example.org", now=now)
    store(engine, [vision_paper(n, now - timedelta(hours=3)) for n in range(3)], now)
    engine.dispose()
    return {"DIGEST_DATABASE_URL": database_url, "DIGEST_OUTBOX_DIR": str(outbox)}


def test_status_shows_a_send_that_could_not_write_the_outbox(database_url, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    env = fresh_papers_env(database_url, tmp_path, blocker / "outbox")
    sent = run_digest(["send", "--now"], env)
    assert sent.exit_code == 1 and "1 released" in sent.stdout
    assert "Traceback" not in sent.stderr
    status = run_digest(["status"], env)
    assert status.exit_code == 0
    last = [line for line in status.stdout.splitlines() if line.startswith("Last send:")]
    assert last and "1 released" in last[0] and "FAILED" in last[0], status.stdout
    assert "released" in status.stdout.split(last[0], 1)[1]  # the reason follows
    data = json.loads(run_digest(["status", "--json"], env).stdout)
    assert data["last_send"]["ok"] is False and data["last_send"]["problems"]
    assert "ada@example.org" not in status.stdout + json.dumps(data)
    # The next run, with a writable outbox, sends it and status says so.
    env["DIGEST_OUTBOX_DIR"] = str(tmp_path / "outbox")
    assert run_digest(["send", "--now"], env).exit_code == 0
    data = json.loads(run_digest(["status", "--json"], env).stdout)
    assert data["last_send"]["ok"] is True and data["last_send"]["counts"] == {"sent": 1}


# Item 12: the console mailer prints readable text.


def test_the_console_mailer_prints_decoded_text(database_url, tmp_path):
    env = fresh_papers_env(database_url, tmp_path, tmp_path / "outbox")
    env["DIGEST_MAILER"] = "console"
    result = run_digest(["send", "--now"], env)
    assert result.exit_code == 0, result.stderr
    assert "Subject: " in result.stdout and "To: ada@example.org" in result.stdout
    assert "Diffusion Priors for Monocular Depth Estimation" in result.stdout
    assert "https://arxiv.org/abs/2611.14000" in result.stdout
    assert "=3D" not in result.stdout and "=C2=B7" not in result.stdout
    assert "Content-Transfer-Encoding" not in result.stdout


# Item 15: what was sent to one person.


def test_sent_lists_each_edition_and_its_papers(demo_env):
    result = run_digest(["sent", "ADA@example.org", "--json"], demo_env)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [e["period"] for e in data["editions"]] == ["2026-11-19", "2026-11-20"]
    for edition in data["editions"]:
        assert edition["status"] == "sent" and edition["sent_at"]
        assert len(edition["papers"]) == edition["paper_count"] > 0
        assert all(p["id"] and p["title"] for p in edition["papers"])
    day1 = {p["id"] for p in data["editions"][0]["papers"]}
    assert not day1 & {p["id"] for p in data["editions"][1]["papers"]}
    text = run_digest(["sent", "ada@example.org"], demo_env)
    assert text.exit_code == 0 and all(key in text.stdout for key in day1)
    one_line_error(run_digest(["sent", "nobody@example.org"], demo_env), "no subscriber")


# Item 10: fetch says what it waits for, and names a network failure once.


def test_fetch_failure_when_the_host_cannot_be_reached(database_url, tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "digest.toml"
    config.write_text(
        f'[[sources]]\nname = "arxiv"\nkind = "arxiv-rss"\nurl = "http://127.0.0.1:{port}/rss"\n'
    )
    result = run_digest(["--config", str(config), "fetch"], {"DIGEST_DATABASE_URL": database_url})
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"fetching arxiv (http://127.0.0.1:{port}/rss) …"
    assert lines[-1].startswith("arxiv: FAILED: could not reach 127.0.0.1 (network unreachable?")
    assert lines[-1].count("arxiv") == 1
    status = run_digest(
        ["--config", str(config), "status", "--json"], {"DIGEST_DATABASE_URL": database_url}
    )
    (source,) = json.loads(status.stdout)["sources"]
    assert not source["last_error"].startswith("arxiv:")


def test_failure_wording_keeps_other_reasons_as_they_are():
    from digest.cli.fetch_report import explain_failure

    dns = "hf: https://huggingface.co/api/daily_papers: connection failed ([Errno -3] Temporary failure in name resolution)"
    assert explain_failure("hf", dns).startswith("could not reach huggingface.co (network")
    bad = "broken: http://x/feed: not a feed (an HTML page)"
    assert explain_failure("broken", bad) == "http://x/feed: not a feed (an HTML page)"
