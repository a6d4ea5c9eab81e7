"""`digest subscribers remove`: asks first, and an unknown address changes nothing."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from digest.db.engine import open_engine
from digest.db.schema import suppressions
from tests.cli_helpers import run_digest


def env_for(database_url, tmp_path):
    return {"DIGEST_DATABASE_URL": database_url, "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox")}


def suppression_count(database_url) -> int:
    engine = open_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(suppressions)).scalar_one()
    finally:
        engine.dispose()


def emails(env) -> list[str]:
    result = run_digest(["subscribers", "list", "--json"], env)
    assert result.exit_code == 0, result.stderr
    return [s["email"] for s in json.loads(result.stdout)]


def add(env, email="bob@example.org"):
    result = run_digest(["subscribers", "add", email, "--topic", "nlp", "--confirmed"], env)
    assert result.exit_code == 0, result.stderr


def test_it_refuses_to_remove_without_yes_when_nobody_can_answer(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    add(env)
    result = run_digest(["subscribers", "remove", "bob@example.org"], env)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "digest: error: not removing bob@example.org without confirmation: pass --yes"
    ]
    assert emails(env) == ["bob@example.org"]
    assert suppression_count(database_url) == 0


def test_it_removes_with_yes_and_keeps_a_suppression(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    add(env)
    result = run_digest(["subscribers", "remove", "Bob@Example.org", "--yes"], env)
    assert result.exit_code == 0, result.stderr
    assert emails(env) == []
    assert suppression_count(database_url) == 1


def test_removing_an_address_never_subscribed_changes_nothing(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    result = run_digest(["subscribers", "remove", "stranger@example.org", "--yes"], env)
    assert result.exit_code == 1
    assert "no subscriber stranger@example.org; nothing changed" in result.stderr
    assert suppression_count(database_url) == 0
    # No trace left: the stranger can still be added (not "unsubscribed before").
    add(env, "stranger@example.org")
    assert emails(env) == ["stranger@example.org"]


def remove_at_a_terminal(database_url, tmp_path, answer: bytes) -> tuple[int, str]:
    """Run the real command with its stdin on a pseudo-terminal and answer the
    question; (exit status, what the terminal showed)."""
    leader, follower = pty.openpty()
    env = {**os.environ, **env_for(database_url, tmp_path), "DIGEST_CONFIG": ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "digest", "subscribers", "remove", "bob@example.org"],
        stdin=follower,
        stdout=follower,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(follower)
    shown = b""
    while b"[y/N]" not in shown:
        chunk = os.read(leader, 1024)
        assert chunk, shown
        shown += chunk
    os.write(leader, answer)
    process.stderr.read()
    status = process.wait(timeout=60)
    try:
        while chunk := os.read(leader, 1024):
            shown += chunk
    except OSError:  # the terminal closes with the process
        pass
    os.close(leader)
    return status, shown.decode()


@pytest.mark.slow  # two cold starts of the real command
def test_at_a_terminal_it_asks_and_no_keeps_the_subscriber(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    add(env)
    status, shown = remove_at_a_terminal(database_url, tmp_path, b"n\n")
    assert "Erase bob@example.org (active)" in shown and "Nothing removed." in shown
    assert status == 1
    assert emails(env) == ["bob@example.org"]
    status, shown = remove_at_a_terminal(database_url, tmp_path, b"y\n")
    assert status == 0 and "Removed bob@example.org" in shown
    assert emails(env) == []
