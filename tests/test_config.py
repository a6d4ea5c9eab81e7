import dataclasses
from pathlib import Path

import pytest

from digest.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


def test_it_uses_the_documented_defaults():
    settings = load_settings(environ={})
    assert settings.database_url == "sqlite:///digest.db"
    assert settings.mailer == "outbox"
    assert str(settings.outbox_dir) == "outbox"
    assert settings.sendgrid_host == "https://api.sendgrid.com"
    assert settings.base_url == "http://localhost:8000"
    assert settings.send_rate == 0 and settings.send_empty is False
    assert settings.retention_days == 365 and settings.misfire_grace_hours == 6
    assert (settings.log_level, settings.log_format) == ("INFO", "text")
    assert {s.kind for s in settings.sources} == {"arxiv-rss", "hf-daily"}


def test_it_overlays_environment_on_the_file(tmp_path):
    config = tmp_path / "digest.toml"
    config.write_text('mailer = "console"\nfrom = "Lab <lab@example.org>"\nsend_rate = 5\n')
    settings = load_settings(config, environ={"DIGEST_SEND_RATE": "12.5"})
    assert settings.mailer == "console"
    assert settings.sender == "Lab <lab@example.org>"
    assert settings.send_rate == 12.5


def test_it_reads_secrets_from_files(tmp_path):
    secret = tmp_path / "key"
    secret.write_text("s3cret-value\n")
    settings = load_settings(
        environ={"DIGEST_SECRET_KEY_FILE": str(secret), "SENDGRID_API_KEY": "SG.x"}
    )
    assert settings.secret_key.get_secret_value() == "s3cret-value"
    assert settings.sendgrid_api_key.get_secret_value() == "SG.x"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"DIGEST_MAILER": "pigeon"},
            "DIGEST_MAILER: must be one of outbox, console, smtp or sendgrid",
        ),
        ({"DIGEST_SEND_RATE": "fast"}, "DIGEST_SEND_RATE:"),
        ({"DIGEST_BASE_URL": "ftp://x"}, "DIGEST_BASE_URL: must be an http:// or https:// URL"),
        ({"DIGEST_RETENTION_DAYS": "0"}, "DIGEST_RETENTION_DAYS:"),
        ({"DIGEST_LOG_FORMAT": "xml"}, "DIGEST_LOG_FORMAT: must be one of text or json"),
        (
            {"DIGEST_FROM": "Lab <lab@example.org>\nBcc: x@example.org"},
            "DIGEST_FROM: must be one address",
        ),
        ({"DIGEST_FROM": "digest@exämple.org"}, "DIGEST_FROM: must be one address"),
        ({"DIGEST_BASE_URL": "https://example.org/a b"}, "DIGEST_BASE_URL: must be an http"),
        ({"DIGEST_RETENTION_DAYS": "99999999999"}, "DIGEST_RETENTION_DAYS:"),
        (
            {"DIGEST_SEND_QUEUE": "procrastinate"},
            "DIGEST_SEND_QUEUE: procrastinate needs a PostgreSQL database_url",
        ),
        ({"DIGEST_SEND_QUEUE": "celery"}, "DIGEST_SEND_QUEUE: must be one of in-process or"),
    ],
)
def test_it_names_the_bad_key_and_what_is_allowed(environ, expected):
    with pytest.raises(ConfigError) as error:
        load_settings(environ=environ)
    message = str(error.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_it_rejects_an_unknown_source_kind_before_anything_runs(tmp_path):
    config = tmp_path / "digest.toml"
    config.write_text('[[sources]]\nname = "x"\nkind = "gopher"\nurl = "https://example.org/"\n')
    with pytest.raises(
        ConfigError, match=r"sources\[1\]\.kind: must be one of arxiv-rss, arxiv-api"
    ):
        load_settings(config, environ={})


def test_it_never_echoes_a_secret_in_an_error(tmp_path):
    config = tmp_path / "digest.toml"
    config.write_text("secret_key = 4242424242\n")
    with pytest.raises(ConfigError) as error:
        load_settings(config, environ={})
    assert str(error.value).startswith("secret_key in ")
    assert "4242424242" not in str(error.value)


def test_it_rejects_unknown_keys(tmp_path):
    config = tmp_path / "digest.toml"
    config.write_text('bogus = "x"\n')
    with pytest.raises(ConfigError, match="bogus in .*: is not a known setting"):
        load_settings(config, environ={})


def test_it_loads_the_example_config():
    settings = load_settings(ROOT / "deploy" / "digest.example.toml", environ={})
    assert [s.name for s in settings.sources] == ["arxiv", "hf"]


def test_it_explains_an_unreadable_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(tmp_path, environ={})
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'from = "caf\xe9 <a@example.org>"\n')
    with pytest.raises(ConfigError, match="not valid UTF-8 TOML"):
        load_settings(latin, environ={})


def test_it_converts_environment_strings_as_documented():
    settings = load_settings(
        environ={
            "DIGEST_SEND_EMPTY": "yes",
            "DIGEST_RETENTION_DAYS": " 30 ",
            "DIGEST_LOG_LEVEL": "debug",
            "DIGEST_BASE_URL": "https://digest.example.org/",
            "DIGEST_OUTBOX_DIR": "mail/out",
        }
    )
    assert settings.send_empty is True and settings.retention_days == 30
    assert settings.log_level == "DEBUG"
    assert settings.base_url == "https://digest.example.org"  # no trailing slash
    assert settings.outbox_dir == Path("mail/out")


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[[sources]]\nname = "x"\nkind = "feed"', "sources[1].url: Field required"),
        (
            '[[sources]]\nname = "x"\nkind = "feed"\nurl = "https://e.org/"\nevery = 1',
            "sources[1].every: is not a known setting",
        ),
        (
            '[[sources]]\nname = "x"\nkind = "feed"\nurl = "https://e.org/"\ncategories = ["a", 5]',
            "sources[1].categories.1: Input should be a valid string",
        ),
        ('[scheduler]\nsend_every = "soon"', "scheduler.send_every in "),
        ('[scheduler]\nhousekeeping = "61 * * * *"', "scheduler.housekeeping in "),
        ("retention_days = 5.5", "retention_days in "),
    ],
)
def test_a_bad_value_in_the_file_names_its_place(tmp_path, toml, expected):
    config = tmp_path / "digest.toml"
    config.write_text(toml + "\n")
    with pytest.raises(ConfigError) as error:
        load_settings(config, environ={})
    assert str(error.value).startswith(expected)
    assert "\n" not in str(error.value)


def test_settings_made_in_code_are_checked_and_converted(tmp_path):
    settings = Settings(outbox_dir=str(tmp_path), secret_key="k3y", send_rate="2.5")
    assert settings.outbox_dir == tmp_path and settings.send_rate == 2.5
    assert settings.secret_key.get_secret_value() == "k3y" and "k3y" not in repr(settings)
    with pytest.raises(ValueError, match="mailer: must be one of"):
        Settings(mailer="pigeon")
    changed = dataclasses.replace(
        settings, scheduler=dataclasses.replace(settings.scheduler, send_every=60)
    )
    assert changed.scheduler.send_every == 60.0 and changed.secret_key == settings.secret_key
