"""`benchmarks/daily_run.py` still runs the send path end to end on each
database (a small day; the figures themselves are not checked)."""

from __future__ import annotations

import pytest

from benchmarks import daily_run


@pytest.mark.slow
def test_the_daily_benchmark_sends_every_generated_subscriber_once(database_url):
    argv = ["--subscribers", "40", "--papers", "80", "--history-days", "3"]
    args = daily_run.parse_args([*argv, "--database-url", database_url, "--baseline-sample", "5"])
    line = daily_run.generate_world(args)
    assert "40 subscribers" in line
    result = daily_run.run(args)
    counts = result["counts"]
    assert counts["sent"] + counts["empty"] == 40 and result["requests"] == counts["sent"]
    assert result["distinct"] >= 1 and result["bytes_per_edition"] > 0
    assert "| **total** |" in daily_run.report(args, 0.0, line, result)
    again = daily_run.run(args)  # a rerun the same day sends nothing
    assert again["editions"] == 0
