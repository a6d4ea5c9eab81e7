"""`benchmarks/daily_run.py` still runs the send path end to end on each
database (a small day; the figures themselves are not checked)."""

from __future__ import annotations

import pytest

from benchmarks import daily_run

SMALL = ["--subscribers", "40", "--papers", "80", "--history-days", "3", "--baseline-sample", "5"]


@pytest.mark.slow
def test_the_daily_benchmark_sends_every_generated_subscriber_once(database_url):
    args = daily_run.parse_args([*SMALL, "--database-url", database_url])
    line = daily_run.generate_world(args)
    assert "40 subscribers" in line
    result = daily_run.run(args)
    counts, api = result["counts"], result["api"]
    assert counts["sent"] + counts["empty"] == 40
    # One SendGrid request per distinct digest, over one connection.
    assert api["recipients"] == counts["sent"] and api["accepted"] == result["requests"]
    assert result["requests"] <= result["distinct"] and api["connections"] == 1
    # (A day this small may fit in room the table's pages keep free: 0 bytes.)
    assert result["distinct"] >= 1 and result["bytes_per_edition"] >= 0
    text = daily_run.report(args, 0.0, line, result)
    assert "| **total** |" in text and "that ratio's ceiling" in text
    # Our rendering and requests at zero can only raise the ratio.
    naive_over_wall = daily_run.naive_total(result)[1] / result["total"]
    assert min(daily_run.ratio_ceilings(result)) >= naive_over_wall
    again = daily_run.run(args)  # a rerun the same day sends nothing
    assert again["editions"] == 0


@pytest.mark.slow
def test_it_builds_mime_and_runs_several_sending_processes(database_url):
    mime = daily_run.parse_args([*SMALL, "--database-url", database_url, "--mailer", "mime"])
    daily_run.generate_world(mime)
    half = daily_run.parse_args([*SMALL, "--database-url", database_url, "--processes", "2"])
    # Two sends at once claim each edition once between them.
    result = daily_run.run(half)
    counts = result["counts"]
    assert counts["sent"] + counts["empty"] == 40 and len(result["processes"]) == 2
    assert result["api"]["recipients"] == counts["sent"]
    assert "process 2:" in daily_run.report(half, 0.0, "", result)
    assert daily_run.run(mime)["editions"] == 0


@pytest.mark.slow
def test_it_runs_one_send_shared_by_forked_processes(database_url):
    args = daily_run.parse_args([*SMALL, "--database-url", database_url, "--send-processes", "2"])
    daily_run.generate_world(args)
    result = daily_run.run(args)
    counts = result["counts"]
    assert counts["sent"] + counts["empty"] == 40
    assert result["api"]["recipients"] == counts["sent"]
    # The children's stage times and distinct digests are gathered in.
    assert result["stage_cpu"]["claim"] > 0 and result["distinct"] >= 1
    assert "forked processes" in daily_run.report(args, 0.0, "", result)


@pytest.mark.slow
def test_later_days_send_the_new_papers_and_report_their_growth(database_url):
    args = daily_run.parse_args([*SMALL, "--database-url", database_url, "--days", "3"])
    daily_run.generate_world(args)
    result = daily_run.run(args)
    first, *later = result["days"]
    assert first["editions"] == result["editions"] and len(later) == 2
    # Each later day is a new period: every daily reader gets an edition again.
    assert [each["day"] for each in later] == [1, 2]
    assert all(0 < each["editions"] <= 40 for each in later)
    assert args.now == daily_run.NOW
    report = daily_run.report(args, 0.0, "", result)
    assert "- day 3 (after VACUUM on PostgreSQL)" in report and "heap" in report
