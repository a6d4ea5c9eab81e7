import json

from tests.cli_helpers import run_digest


def env_for(database_url, tmp_path):
    return {"DIGEST_DATABASE_URL": database_url, "DIGEST_OUTBOX_DIR": str(tmp_path / "outbox")}


def listed(env):
    result = run_digest(["subscribers", "list", "--json"], env)
    assert result.exit_code == 0, result.stderr
    return {s["email"]: s for s in json.loads(result.stdout)}


def test_it_adds_and_sets_subscribers_with_every_option(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    added = run_digest(
        [
            "subscribers", "add", "Ada.Lovelace@Example.ORG",
            "--topic", "nlp:5:10", "--topic", "robotics",
            "--keywords", "diffusion; scaling laws", "--categories", "cs.CV; cs.RO",
            "--authors", "A. Turing; Grace Hopper", "--mute", "survey",
            "--frequency", "weekly", "--weekday", "fri", "--timezone", "Europe/Berlin",
            "--hour", "6", "--max-papers", "12", "--format", "text", "--no-cross-lists",
            "--min-upvotes", "3", "--confirmed",
        ],
        env,
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    sub = listed(env)["ada.lovelace@example.org"]
    assert sub["status"] == "active"
    assert sub["topics"] == ["nlp:5:10", "robotics"]
    assert sub["keywords"] == ["diffusion", "scaling laws"]
    assert sub["categories"] == ["cs.CV", "cs.RO"]
    assert sub["authors"] == ["A. Turing", "Grace Hopper"]
    assert (sub["frequency"], sub["weekday"], sub["timezone"], sub["hour"]) == (
        "weekly", "fri", "Europe/Berlin", 6,
    )  # fmt: skip
    assert (sub["max_papers"], sub["format"], sub["cross_lists"], sub["min_upvotes"]) == (
        12, "text", False, 3,
    )  # fmt: skip
    changed = run_digest(
        ["subscribers", "set", "ada.lovelace@example.org", "--hour", "9", "--keywords", ""], env
    )
    assert changed.exit_code == 0, changed.stderr
    sub = listed(env)["ada.lovelace@example.org"]
    assert sub["hour"] == 9 and sub["keywords"] == [] and sub["topics"] == ["nlp:5:10", "robotics"]


def test_it_refuses_bad_input_with_one_line(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    for args, fragment in [
        (["subscribers", "add", "not-an-address"], "email"),
        (["subscribers", "add", "a@example.org", "--topic", "astrology"], "astrology"),
        (["subscribers", "add", "a@example.org", "--hour", "25"], "hour"),
        (["subscribers", "add", "a@example.org", "--timezone", "Mars/Olympus"], "timezone"),
        (["subscribers", "set", "nobody@example.org", "--hour", "3"], "no subscriber"),
    ]:
        result = run_digest(args, env)
        assert result.exit_code == 1, args
        assert result.stderr.startswith("digest: error:") and fragment in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr


def test_it_removes_to_a_hashed_suppression(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    assert (
        run_digest(
            ["subscribers", "add", "bob@example.org", "--topic", "nlp", "--confirmed"], env
        ).exit_code
        == 0
    )
    removed = run_digest(["subscribers", "remove", "bob@example.org", "--yes"], env)
    assert removed.exit_code == 0, removed.stderr
    assert "bob@example.org" not in listed(env)
    again = run_digest(
        ["subscribers", "add", "bob@example.org", "--topic", "nlp", "--confirmed"], env
    )
    assert again.exit_code == 1 and "double opt-in" in again.stderr
    pending = run_digest(["subscribers", "add", "bob@example.org", "--topic", "nlp"], env)
    assert pending.exit_code == 0
    assert listed(env)["bob@example.org"]["status"] == "pending"


def test_it_imports_reports_bad_rows_and_round_trips(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    source = tmp_path / "people.csv"
    source.write_text(  # fmt: skip
        "email,topics,keywords,frequency,weekday,timezone,hour,max_papers,format,cross_lists,min_upvotes,confirmed\n"
        'ann@example.org,"nlp:5:10; robotics","graph neural nets; ""quoted"", comma",daily,mon,Asia/Tokyo,8,15,html,true,0,true\n'
        "broken-address,nlp,,,,,,,,,,\n"
        "zoe@exämple.org,computer-vision,,weekly,wed,America/New_York,23,20,text,false,2,false\n"
        "cy@example.org,nlp,,daily,,UTC,99,,,,,\n",
        encoding="utf-8",
    )
    result = run_digest(["subscribers", "import", str(source)], env)
    assert result.exit_code == 1
    assert "people.csv:3:" in result.stderr and "people.csv:5:" in result.stderr
    assert "Imported 2 new" in result.stdout
    exported = tmp_path / "export.csv"
    assert run_digest(["subscribers", "export", "-o", str(exported)], env).exit_code == 0
    before = listed(env)
    assert before["ann@example.org"]["status"] == "active"
    assert before["zoe@exämple.org"]["status"] == "pending"
    # Import the export into an empty database: everything comes back the same.
    other = env_for(f"sqlite:///{tmp_path / 'other.db'}", tmp_path)
    assert run_digest(["init"], other).exit_code == 0
    assert run_digest(["subscribers", "import", str(exported)], other).exit_code == 0
    after = listed(other)
    strip = lambda s: {k: v for k, v in s.items() if k not in ("id", "created_at", "confirmed_at")}  # noqa: E731
    assert {e: strip(s) for e, s in after.items()} == {e: strip(s) for e, s in before.items()}
    assert after["ann@example.org"]["keywords"] == ["graph neural nets", '"quoted", comma']


def test_it_refuses_commands_until_the_database_is_initialised(tmp_path):
    env = env_for(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path)
    result = run_digest(["subscribers", "list"], env)
    assert result.exit_code == 1 and "digest init" in result.stderr
    assert run_digest(["init"], env).exit_code == 0
    assert run_digest(["subscribers", "list"], env).exit_code == 0
    assert "up to date" in run_digest(["init"], env).stdout


def test_a_partial_import_changes_only_the_columns_it_has(database_url, tmp_path):
    env = env_for(database_url, tmp_path)
    args = [
        "subscribers",
        "add",
        "ada@example.org",
        "--topic",
        "nlp:5:10",
        "--keywords",
        "diffusion",
    ]
    args += ["--frequency", "weekly", "--timezone", "Europe/Berlin", "--confirmed"]
    assert run_digest(args, env).exit_code == 0
    partial = tmp_path / "hours.csv"
    partial.write_text("email,hour\nada@example.org,9\n")
    result = run_digest(["subscribers", "import", str(partial)], env)
    assert result.exit_code == 0, result.stderr
    sub = listed(env)["ada@example.org"]
    assert sub["hour"] == 9 and sub["status"] == "active"
    assert sub["topics"] == ["nlp:5:10"] and sub["keywords"] == ["diffusion"]
    assert (sub["frequency"], sub["timezone"]) == ("weekly", "Europe/Berlin")


def test_nobody_who_left_is_reactivated_without_opt_in(database_url, tmp_path):
    from digest.db.engine import open_engine
    from digest.store.subscribers import get_subscriber, update_subscriber

    env = env_for(database_url, tmp_path)
    assert (
        run_digest(
            ["subscribers", "add", "gone@example.org", "--topic", "nlp", "--confirmed"], env
        ).exit_code
        == 0
    )
    engine = open_engine(database_url)
    with engine.begin() as conn:
        sub = get_subscriber(conn, "gone@example.org")
        update_subscriber(conn, sub.id, sub.prefs, status="unsubscribed", now=sub.created_at)
    engine.dispose()
    again = run_digest(["subscribers", "set", "gone@example.org", "--confirmed"], env)
    assert again.exit_code == 1 and "double opt-in" in again.stderr
    sheet = tmp_path / "back.csv"
    sheet.write_text("email,confirmed\ngone@example.org,true\n")
    imported = run_digest(["subscribers", "import", str(sheet)], env)
    assert imported.exit_code == 1 and "back.csv:2:" in imported.stderr
    assert listed(env)["gone@example.org"]["status"] == "unsubscribed"
