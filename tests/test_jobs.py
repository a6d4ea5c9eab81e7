"""Job runs as the scheduler calls them: one log line each, a failure logged with
its reason (never raised into the scheduler), JSON fields when asked for."""

import json
import logging

import pytest

from digest import jobs
from digest.logs import JsonFormatter
from tests.fakes.http_server import Reply
from tests.scheduler_helpers import job_context


@pytest.fixture
def bound(database_url, tmp_path, server):
    config = tmp_path / "digest.toml"
    config.write_text(
        f'[[sources]]\nname = "journal"\nkind = "feed"\nurl = "{server.url("/feed")}"\n'
    )
    ctx = job_context(database_url, tmp_path / "outbox", config=config)
    jobs.bind(ctx)
    yield ctx
    jobs.bind(None)
    ctx.close()


def job_lines(caplog):
    return [r for r in caplog.records if r.name == "digest.jobs" and hasattr(r, "fields")]


def test_a_failing_fetch_is_one_line_with_its_reason(bound, server, caplog):
    server.script("/feed", Reply(404, b"gone"))
    with caplog.at_level(logging.INFO, logger="digest.jobs"):
        jobs.fetch_source("journal")  # does not raise: the job stays scheduled
    [line] = job_lines(caplog)
    assert line.levelno == logging.ERROR
    assert line.fields["job"] == "fetch:journal" and line.fields["outcome"] == "failed"
    assert "404" in line.fields["note"]
    assert line.getMessage().startswith("job fetch:journal failed in ")


def test_an_unexpected_error_is_logged_not_raised(bound, caplog):
    with caplog.at_level(logging.INFO, logger="digest.jobs"):
        jobs.fetch_source("removed-from-config")
    [line] = job_lines(caplog)
    assert line.fields["outcome"] == "failed"
    assert "ConfigError: unknown source 'removed-from-config'" in line.fields["note"]


def test_each_run_is_one_line_with_fields_in_json(bound, caplog):
    with caplog.at_level(logging.INFO, logger="digest.jobs"):
        jobs.send_tick()
        jobs.housekeeping()
    send, tidy = job_lines(caplog)
    assert send.getMessage().endswith(": nothing due")
    record = json.loads(JsonFormatter().format(tidy))
    assert record["job"] == "housekeeping" and record["outcome"] == "ok"
    pruned = {"editions": 0, "digests": 0, "unconfirmed": 0, "fetch_states": 0}
    if bound.runtime.engine.dialect.name == "postgresql":
        pruned["queue_jobs"] = 0  # finished send-queue jobs
    assert record["counts"] == pruned
    assert isinstance(record["duration_s"], float)


def test_a_job_started_while_stopping_is_skipped(bound, caplog):
    bound.stopping.set()
    with caplog.at_level(logging.INFO, logger="digest.jobs"):
        jobs.send_tick()
    [line] = job_lines(caplog)
    assert line.fields["outcome"] == "skipped"


def test_jobs_refuse_to_run_outside_digest_run():
    with pytest.raises(RuntimeError, match="only inside `digest run`"):
        jobs.send_tick()
