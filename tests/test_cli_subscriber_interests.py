"""A subscriber must have something to match, and categories must be arXiv's."""

from __future__ import annotations

import json

from tests.cli_helpers import run_digest


def env_for(database_url, tmp_path):
    return {"DIGEST_DATABASE_URL": database_url, "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox")}


def listed(env) -> dict[str, dict]:
    result = run_digest(["subscribers", "list", "--json"], env)
    assert result.exit_code == 0, result.stderr
    return {s["email"]: s for s in json.loads(result.stdout)}


def one_error_line(result) -> str:
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("digest: error:"), result.stderr
    return lines[0]


def test_a_subscriber_with_nothing_to_match_is_refused_on_add(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    for extra in (["--confirmed"], [], ["--hour", "9", "--mute", "survey", "--confirmed"]):
        result = run_digest(["subscribers", "add", "ada@example.org", *extra], env)
        assert "nothing to match" in one_error_line(result)
    assert listed(env) == {}
    for option, value in [
        ("--topic", "nlp"),
        ("--keywords", "diffusion"),
        ("--categories", "cs.RO"),
        ("--authors", "A. Turing"),
    ]:
        address = f"{option[2:]}@example.org"
        added = run_digest(["subscribers", "add", address, option, value, "--confirmed"], env)
        assert added.exit_code == 0, added.stderr
    assert len(listed(env)) == 4


def test_set_cannot_take_a_subscriber_s_last_interest_away(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    args = ["subscribers", "add", "ada@example.org", "--topic", "nlp", "--keywords", "BERT"]
    assert run_digest([*args, "--confirmed"], env).exit_code == 0
    # Dropping one of two kinds of interest is fine; dropping the last is not.
    assert (
        run_digest(["subscribers", "set", "ada@example.org", "--keywords", ""], env).exit_code == 0
    )
    refused = run_digest(["subscribers", "set", "ada@example.org", "--topic", ""], env)
    assert "nothing to match" in one_error_line(refused)
    assert listed(env)["ada@example.org"]["topics"] == ["nlp"]


def test_categories_are_checked_against_arxiv_and_take_its_spelling(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    bad = run_digest(
        ["subscribers", "add", "ada@example.org", "--categories", "cs.XX; banana", "--confirmed"],
        env,
    )
    line = one_error_line(bad)
    assert "categories: not an arXiv category" in line
    assert "'cs.XX'" in line and "'banana'" in line
    assert listed(env) == {}
    good = run_digest(
        ["subscribers", "add", "ada@example.org", "--categories", "cs.cv; STAT.ML", "--confirmed"],
        env,
    )
    assert good.exit_code == 0, good.stderr
    assert listed(env)["ada@example.org"]["categories"] == ["cs.CV", "stat.ML"]


def test_an_imported_row_with_nothing_to_match_is_reported_and_skipped(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    sheet = tmp_path / "people.csv"
    sheet.write_text(
        "email,topics,categories,hour,confirmed\n"
        "ann@example.org,nlp,,8,true\n"
        "bob@example.org,,,9,true\n"
        "cy@example.org,,cs.XX; banana,,true\n"
        "dee@example.org,,cs.ro,,false\n",
        encoding="utf-8",
    )
    result = run_digest(["subscribers", "import", str(sheet)], env)
    assert result.exit_code == 1
    assert "people.csv:3: nothing to match" in result.stderr
    assert "people.csv:4: categories: not an arXiv category: 'cs.XX', 'banana'" in result.stderr
    subs = listed(env)
    assert sorted(subs) == ["ann@example.org", "dee@example.org"]
    assert subs["dee@example.org"]["categories"] == ["cs.RO"]
    # A partial file for someone who has interests leaves them alone.
    hours = tmp_path / "hours.csv"
    hours.write_text("email,hour\nann@example.org,6\n", encoding="utf-8")
    assert run_digest(["subscribers", "import", str(hours)], env).exit_code == 0
    # But one that empties the last of them is refused for that row.
    emptied = tmp_path / "emptied.csv"
    emptied.write_text("email,topics\nann@example.org,\n", encoding="utf-8")
    result = run_digest(["subscribers", "import", str(emptied)], env)
    assert result.exit_code == 1 and "emptied.csv:2: nothing to match" in result.stderr
    assert listed(env)["ann@example.org"]["topics"] == ["nlp"]
