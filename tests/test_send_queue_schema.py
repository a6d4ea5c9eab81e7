"""The send queue's schema matches the procrastinate installed, and `digest
worker` says in one line that SQLite has nothing for it."""

from __future__ import annotations

import json
from importlib import metadata, resources
from pathlib import Path

from digest.db.engine import MIGRATIONS
from tests.cli_helpers import run_digest

VENDORED = MIGRATIONS / "procrastinate" / "schema-3.10.0.sql"
# The last of procrastinate's own migrations that schema-3.10.0.sql includes.
INCLUDED = "03.04.00_50_post_add_retry_failed_job_procedure.sql"


def installed_migrations() -> list[str]:
    folder = resources.files("procrastinate.sql") / "migrations"
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".sql"))


def test_procrastinate_has_no_schema_change_our_revisions_lack():
    newer = [name for name in installed_migrations() if name > INCLUDED]
    assert not newer, (
        f"procrastinate {metadata.version('procrastinate')} changes its schema ({newer}): "
        "add an Alembic revision applying those files on PostgreSQL, then move INCLUDED"
    )
    if metadata.version("procrastinate") == "3.10.0":
        shipped = (resources.files("procrastinate.sql") / "schema.sql").read_text("utf-8")
        assert VENDORED.read_text("utf-8") == shipped


def test_the_worker_on_sqlite_has_nothing_to_do_and_says_so(tmp_path: Path):
    env = {"DIGEST_DATABASE_URL": f"sqlite:///{tmp_path / 'digest.db'}"}
    assert run_digest(["init"], env).exit_code == 0
    result = run_digest(["worker"], env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\n") == 1
    assert result.stdout.startswith("Nothing to do: on SQLite `digest run` sends in-process")
    status = run_digest(["status", "--json"], env)
    assert json.loads(status.stdout)["queue"] is None
    assert "Send queue" not in run_digest(["status"], env).stdout
