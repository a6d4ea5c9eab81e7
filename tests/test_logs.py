"""JSON logs: every line one object, each carrying its process's run id."""

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from digest.db.engine import open_engine, upgrade
from digest.logs import RUN_ID, JsonFormatter
from tests.pipeline_helpers import subscribe

DIGEST = str(Path(sys.executable).with_name("digest"))


def digest(args, env) -> subprocess.CompletedProcess:
    full = {**os.environ, "DIGEST_CONFIG": "", "DIGEST_LOG_FORMAT": "json", **env}
    return subprocess.run([DIGEST, *args], env=full, capture_output=True, text=True, timeout=120)


def test_every_json_line_of_a_run_carries_that_runs_id(tmp_path):
    url = f"sqlite:///{tmp_path / 'digest.db'}"
    engine = open_engine(url)
    upgrade(engine)
    env = {
        "DIGEST_DATABASE_URL": url,
        "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox"),
        "DIGEST_LOG_LEVEL": "DEBUG",  # each empty edition's line
    }
    runs = []
    for addresses in (["ada@example.org", "bob@example.org"], ["cy@example.org"]):
        for address in addresses:
            subscribe(engine, address, now=datetime.now(UTC))
        result = digest(["send", "--now"], env)  # no papers: empty editions, each logged
        assert result.returncode == 0, result.stderr
        lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
        empty = [line for line in lines if "is empty" in line["message"]]
        assert len(empty) == len(addresses), result.stderr
        runs.append({line["run_id"] for line in lines})
    engine.dispose()
    first, second = runs
    assert len(first) == 1 and len(second) == 1 and first != second


def test_a_json_line_holds_the_traceback_of_an_exception():
    logger = logging.getLogger("digest.test")
    try:
        raise ValueError("boom")
    except ValueError:
        record = logger.makeRecord(
            "digest.test", logging.ERROR, __file__, 1, "failed %s", ("x",), sys.exc_info()
        )
    line = json.loads(JsonFormatter().format(record))
    assert (line["message"], line["level"], line["run_id"]) == ("failed x", "ERROR", RUN_ID)
    assert "ValueError: boom" in line["exception"]
