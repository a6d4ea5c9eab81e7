"""Configuration: a TOML file overlaid by environment variables (DESIGN.md).

`load_settings()` is the one way in. It reads the TOML file (`--config PATH`,
else `DIGEST_CONFIG`, else `./digest.toml` when present), overlays the
environment variables of DESIGN.md (each secret also as `NAME_FILE`), and
validates the result. A bad value raises `ConfigError` whose message is one line
naming the key as the user wrote it and what is allowed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from digest.triggers import (
    DEFAULT_HOUSEKEEPING,
    DEFAULT_SEND_EVERY,
    DEFAULT_STANDBY_POLL,
    parse_duration,
    parse_schedule,
)

SOURCE_KINDS = ("arxiv-rss", "arxiv-api", "hf-daily", "feed")

# Environment variable -> setting name. Secrets also accept NAME_FILE.
ENV_VARS = {
    "DIGEST_DATABASE_URL": "database_url",
    "DIGEST_MAILER": "mailer",
    "DIGEST_OUTBOX_DIR": "outbox_dir",
    "SENDGRID_API_KEY": "sendgrid_api_key",
    "DIGEST_SENDGRID_HOST": "sendgrid_host",
    "DIGEST_SENDGRID_WEBHOOK_KEY": "sendgrid_webhook_key",
    "DIGEST_SMTP_URL": "smtp_url",
    "DIGEST_SMTP_CA_FILE": "smtp_ca_file",
    "DIGEST_BASE_URL": "base_url",
    "DIGEST_SECRET_KEY": "secret_key",
    "DIGEST_FROM": "sender",
    "DIGEST_POSTAL_ADDRESS": "postal_address",
    "DIGEST_CONTACT": "contact",
    "DIGEST_HF_TOKEN": "hf_token",
    "DIGEST_SEND_RATE": "send_rate",
    "DIGEST_SEND_EMPTY": "send_empty",
    "DIGEST_SEND_QUEUE": "send_queue",
    "DIGEST_RETENTION_DAYS": "retention_days",
    "DIGEST_MISFIRE_GRACE_HOURS": "misfire_grace_hours",
    "DIGEST_LOG_LEVEL": "log_level",
    "DIGEST_LOG_FORMAT": "log_format",
    "DIGEST_METRICS_TOKEN": "metrics_token",
}
SECRET_VARS = ("DIGEST_SECRET_KEY", "SENDGRID_API_KEY", "DIGEST_SMTP_URL", "DIGEST_HF_TOKEN")
# The database URL may carry a password: it may come from a file too, and is never echoed.
SECRET_VARS += ("DIGEST_DATABASE_URL",)
SECRET_VARS += ("DIGEST_METRICS_TOKEN",)
# TOML keys that differ from the setting name.
TOML_ALIASES = {"from": "sender"}


class ConfigError(Exception):
    """A configuration problem, worded for the person who wrote the config."""


class SourceConfig(BaseModel):
    """One `[[sources]]` entry.

    `kind` picks the module under `digest.sources`. The optional fields are used
    by the kinds that need them: `query`/`categories`/`ids`/`max_results` by
    `arxiv-api`, `limit` (page size) and `max_pages` by `hf-daily`.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    kind: Literal["arxiv-rss", "arxiv-api", "hf-daily", "feed"]
    url: str = Field(pattern=r"^https?://")
    enabled: bool = True
    categories: list[str] = Field(default_factory=list)
    query: str | None = None
    ids: list[str] = Field(default_factory=list)
    max_results: int = Field(default=200, ge=1, le=2000)
    limit: int = Field(default=100, ge=1, le=1000)
    max_pages: int = Field(default=10, ge=1, le=100)
    # When `digest run` fetches it (digest.triggers); None = the kind's default.
    schedule: str | None = None

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str | None) -> str | None:
        if value is not None:
            parse_schedule(value)
        return value


class SchedulerConfig(BaseModel):
    """The `[scheduler]` table: how often `digest run` sends and tidies up, and
    how often a standby asks for the scheduler lock."""

    model_config = ConfigDict(extra="forbid")

    send_every: str | float = DEFAULT_SEND_EVERY
    housekeeping: str = DEFAULT_HOUSEKEEPING
    standby_poll: str | float = DEFAULT_STANDBY_POLL

    @field_validator("send_every", "standby_poll")
    @classmethod
    def _valid_duration(cls, value: str | float) -> str | float:
        parse_duration(value)
        return value

    @field_validator("housekeeping")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value


class QueueConfig(BaseModel):
    """The `[queue]` table: how sends claim editions, and how the scheduler's
    send tick hands them to `digest worker` processes when
    `send_queue = "procrastinate"`.

    `batch_size` is the number of subscribers claimed per transaction, by
    `digest send` and by the tick alike, and so the most editions one job
    carries (one job per claimed batch).
    `stalled_after`: a worker whose heartbeat is older than this is taken for
    dead, and its running job is retried by another worker; workers beat every
    third of it."""

    model_config = ConfigDict(extra="forbid")

    batch_size: int = Field(default=200, ge=1, le=10_000)
    stalled_after: str | float = "30s"

    @field_validator("stalled_after")
    @classmethod
    def _valid_duration(cls, value: str | float) -> str | float:
        parse_duration(value)
        return value


DEFAULT_SOURCES = [
    SourceConfig(
        name="arxiv",
        kind="arxiv-rss",
        url="https://rss.arxiv.org/rss/cs.AI+cs.CL+cs.CV+cs.LG+cs.RO+cs.IR+cs.CR+stat.ML+eess.AS",
    ),
    SourceConfig(name="hf", kind="hf-daily", url="https://huggingface.co/api/daily_papers"),
]


class Settings(BaseSettings):
    """Validated settings. Built by `load_settings`, which does the TOML and
    environment overlay itself so every error can name the key's origin."""

    model_config = SettingsConfigDict(extra="forbid", validate_default=True)

    database_url: str = "sqlite:///digest.db"
    mailer: Literal["outbox", "console", "smtp", "sendgrid"] = "outbox"
    outbox_dir: Path = Path("outbox")
    sendgrid_api_key: SecretStr | None = None
    sendgrid_host: str = Field(default="https://api.sendgrid.com", pattern=r"^https?://")
    sendgrid_webhook_key: str | None = None
    smtp_url: SecretStr | None = None
    smtp_ca_file: Path | None = None  # extra CA certificates to trust for the SMTP server
    base_url: str = Field(
        default="http://localhost:8000", pattern=r"^https?://[^\s/]+(/\S*)?$", max_length=300
    )
    secret_key: SecretStr | None = None
    sender: str = "Trending Papers <digest@localhost>"
    postal_address: str | None = None
    contact: str | None = None
    hf_token: SecretStr | None = None
    send_rate: float = Field(default=0, ge=0, le=1_000_000)
    send_empty: bool = False
    # Where the scheduler's send tick delivers: in its own process, or through
    # `digest worker` processes (PostgreSQL only; see digest.send_queue).
    send_queue: Literal["in-process", "procrastinate"] = "in-process"
    retention_days: int = Field(default=365, ge=1, le=36500)
    misfire_grace_hours: float = Field(default=6, gt=0, le=24 * 365)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    # Bearer token for GET /metrics; unset: only loopback clients may scrape.
    metrics_token: SecretStr | None = None
    sources: list[SourceConfig] = Field(default_factory=lambda: list(DEFAULT_SOURCES))
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    queue: QueueConfig = Field(default_factory=QueueConfig)

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, *args, **kwargs):
        # load_settings() merges file and environment itself; only init values count.
        return (init_settings,)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("sender")
    @classmethod
    def _one_address(cls, value: str) -> str:
        _, address = parseaddr(value)
        local, _, domain = address.rpartition("@")
        if "\r" in value or "\n" in value or not (local and domain) or not address.isascii():
            raise ValueError(
                "must be one address like 'Trending Papers <digest@example.org>' "
                "(an international domain in its xn-- form)"
            )
        return value

    @field_validator("send_queue")
    @classmethod
    def _queue_needs_postgresql(cls, value: str, info) -> str:
        url = str(info.data.get("database_url", ""))
        if value == "procrastinate" and not url.startswith("postgresql"):
            raise ValueError(
                "procrastinate needs a PostgreSQL database_url "
                "(leave it unset to send in-process, as SQLite does)"
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique (repeated: {', '.join(dupes)})")
        return sources

    def source(self, name: str) -> SourceConfig:
        for source in self.sources:
            if source.name == name:
                return source
        known = ", ".join(s.name for s in self.sources) or "none configured"
        raise ConfigError(f"unknown source {name!r} (configured: {known})")


def config_path(explicit: str | Path | None, environ: Mapping[str, str]) -> Path | None:
    """The TOML file to read: explicit, else DIGEST_CONFIG, else ./digest.toml if present."""
    if explicit:
        return Path(explicit)
    if environ.get("DIGEST_CONFIG"):
        return Path(environ["DIGEST_CONFIG"])
    default = Path("digest.toml")
    return default if default.is_file() else None


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read, overlay and validate the configuration; raise ConfigError on any problem."""
    environ = os.environ if environ is None else environ
    file = config_path(path, environ)
    values: dict[str, object] = {}
    origin: dict[str, str] = {}
    if file is not None:
        for key, value in _read_toml(file).items():
            name = TOML_ALIASES.get(key, key)
            values[name] = value
            origin[name] = f"{key} in {file}"
    for var, name, value in _env_values(environ):
        values[name] = value
        origin[name] = var
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origin)) from None


def _read_toml(file: Path) -> dict[str, object]:
    try:
        with open(file, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {file} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {file} is not valid UTF-8 TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror or exc}") from None


def _env_values(environ: Mapping[str, str]):
    for var, name in ENV_VARS.items():
        file_var = f"{var}_FILE"
        if var in SECRET_VARS and environ.get(file_var):
            try:
                value = Path(environ[file_var]).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{file_var}: cannot read {environ[file_var]}: {exc}") from None
            yield file_var, name, value
        elif environ.get(var, "") != "":
            yield var, name, environ[var]


def _describe(exc: ValidationError, origin: Mapping[str, str]) -> str:
    """One line: the first error, with the key as the user wrote it."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    top = loc[0] if loc else "config"
    if top == "sources" and len(loc) >= 2:
        where = f"sources[{int(loc[1]) + 1}]" + "".join(f".{p}" for p in loc[2:])
    else:
        key, _, file = origin.get(top, top).partition(" in ")
        where = key + "".join(f".{p}" for p in loc[1:]) + (f" in {file}" if file else "")
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "literal_error":
        message = "must be one of " + error["ctx"]["expected"].replace("'", "")
    elif error["type"] == "extra_forbidden":
        message = "is not a known setting"
    elif error["type"] == "string_pattern_mismatch" and "https?" in error["ctx"]["pattern"]:
        message = "must be an http:// or https:// URL"
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {str(got)[:60]!r})"
    if top in {n for v, n in ENV_VARS.items() if v in SECRET_VARS}:
        shown = ""  # never echo a secret
    return f"{where}: {message}{shown}"
