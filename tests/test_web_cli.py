"""`digest subscribers add` sends the web sign-up's confirmation email;
`digest serve` is wired; migration 0004 applies over data from 0001."""

from __future__ import annotations

import email
from email import policy

from sqlalchemy import inspect, text

from digest.db.engine import alembic_config, open_engine, upgrade
from tests.cli_helpers import run_digest


def test_add_without_confirmed_sends_the_confirmation_email(database_url, tmp_path):
    outbox = tmp_path / "outbox"
    env = {
        "DIGEST_DATABASE_URL": database_url,
        "DIGEST_OUTBOX_DIR": str(outbox),
        "DIGEST_BASE_URL": "https://digest.example.org",
    }
    added = run_digest(["subscribers", "add", "ada@example.org", "--topic", "nlp"], env)
    assert added.exit_code == 0, added.stderr
    assert "pending; confirmation email sent" in added.stdout
    [path] = outbox.glob("*.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert message["To"] == "ada@example.org" and "Confirm" in message["Subject"]
    assert "https://digest.example.org/confirm/" in message.get_body(("plain",)).get_content()
    assert "List-Unsubscribe" not in message
    confirmed = run_digest(
        ["subscribers", "add", "bob@example.org", "--topic", "nlp", "--confirmed"], env
    )
    assert confirmed.exit_code == 0 and len(list(outbox.glob("*.eml"))) == 1


def test_serve_is_a_command():
    result = run_digest(["serve", "--help"], {})
    assert result.exit_code == 0 and "--port" in result.stdout


def test_migration_0004_applies_over_data_from_0001(tmp_path):
    from alembic import command

    path = tmp_path / "old.db"
    engine = open_engine(f"sqlite:///{path}")
    command.upgrade(alembic_config(engine), "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO subscribers (email, status, topics, keywords, categories, authors,"
                " mute, frequency, weekday, timezone, hour, max_papers, format, cross_lists,"
                " min_upvotes, created_at, soft_bounces) VALUES ('a@example.org', 'active',"
                " '[]', '[]', '[]', '[]', '[]', 'daily', 0, 'UTC', 7, 20, 'html', 1, 0,"
                " '2026-11-01 00:00:00', 0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO editions (subscriber_id, period, status, claimed_at, leased_at,"
                " paper_count) VALUES (1, '2026-11-02', 'sent', '2026-11-02 07:00:00',"
                " '2026-11-02 07:00:00', 0)"
            )
        )
    upgrade(engine)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT delivery FROM editions")).scalar_one() is None
        assert conn.execute(text("SELECT count(*) FROM subscribers")).scalar_one() == 1
    tables = set(inspect(engine).get_table_names())
    assert {"consents", "confirmation_sends", "webhook_events"} <= tables
    command.downgrade(alembic_config(engine), "0001")
    assert "consents" not in set(inspect(engine).get_table_names())
    engine.dispose()
