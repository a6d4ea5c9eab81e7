"""What a command loads to start (cold start, issue 6).

How long a command takes is measured by benchmarks/coldstart.py, never here;
these tests keep libraries a command does not use out of its start-up, each
command run in a fresh interpreter on the demo database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.cli_helpers import run_digest

# Loads every module of the command, then lists the top-level packages loaded.
PROBE = """
import json, sys
from digest.cli import app
out, args = sys.argv[1], sys.argv[2:]
try:
    app(args, prog_name="digest")
except SystemExit:
    pass
with open(out, "w") as fh:
    json.dump(sorted({name.split(".")[0] for name in sys.modules}), fh)
"""
# Never needed to start: the config is checked in plain code, typer < 0.29
# parses options without pydantic, the scheduler and migrations load only in
# the commands that run them, and the fetchers only in `fetch` and `run`.
NEVER = {"pydantic", "pydantic_settings", "alembic", "httpx", "feedparser", "rich"}


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cold-start")
    result = run_digest(["demo"], {"DIGEST_OUTBOX_DIR": str(folder / "outbox")}, cwd=folder)
    assert result.exit_code == 0, result.stderr
    return folder / "digest-demo.db"


def loaded(args: list[str], database, tmp_path) -> set[str]:
    copy = tmp_path / "digest.db"
    shutil.copy(database, copy)
    out = tmp_path / "modules.json"
    env = {
        **os.environ,
        "DIGEST_CONFIG": "",
        "DIGEST_DATABASE_URL": f"sqlite:///{copy}",
        "DIGEST_LOG_LEVEL": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(out.read_text()))


def test_help_loads_neither_the_database_layer_nor_the_templates(demo_database, tmp_path):
    modules = loaded(["--help"], demo_database, tmp_path)
    assert not modules & (NEVER | {"sqlalchemy", "jinja2", "apscheduler", "snowballstemmer"})


def test_previewing_a_sent_edition_loads_no_scheduler_and_no_stemmer(demo_database, tmp_path):
    args = ["preview", "--email", "ada@example.org", "--date", "2026-11-20", "--format", "text"]
    modules = loaded(args, demo_database, tmp_path)
    assert {"sqlalchemy", "jinja2"} <= modules  # it did read and render
    # A sent edition is shown as it was sent: nothing is ranked again.
    assert not modules & (NEVER | {"apscheduler", "snowballstemmer"})


def test_status_loads_no_scheduler_and_no_fetcher(demo_database, tmp_path):
    modules = loaded(["status"], demo_database, tmp_path)
    assert not modules & (NEVER | {"apscheduler"})
