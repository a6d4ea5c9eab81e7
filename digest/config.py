"""Configuration: a TOML file overlaid by environment variables (DESIGN.md).

`load_settings()` is the one way in. It reads the TOML file (`--config PATH`,
else `DIGEST_CONFIG`, else `./digest.toml` when present), overlays the
environment variables of DESIGN.md (each secret also as `NAME_FILE`), and
validates the result. A bad value raises `ConfigError` whose message is one line
naming the key as the user wrote it and what is allowed.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from digest.config_values import (
    Checked,
    Invalid,
    Secret,
    boolean,
    checked,
    integer,
    list_of,
    number,
    one_of,
    optional,
    path,
    record,
    secret,
    text,
    then,
)
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
    "DIGEST_SEND_PROCESSES": "send_processes",
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


_HTTP_URL = r"^https?://"


class ConfigError(Exception):
    """A configuration problem, worded for the person who wrote the config."""


def _schedule(value: str) -> str:
    parse_schedule(value)  # loads APScheduler: only for a schedule the config sets
    return value


def _duration(value: object) -> str | float:
    """A duration as written: a string like "5m", or a number of seconds."""
    as_written = float(value) if isinstance(value, bool | int | float) else value
    try:
        parse_duration(as_written)
    except (ValueError, OverflowError) as exc:
        raise Invalid(str(exc), value) from None
    return as_written


@dataclasses.dataclass(init=False)
class SourceConfig(Checked):
    """One `[[sources]]` entry.

    `kind` picks the module under `digest.sources`. The optional fields are used
    by the kinds that need them: `query`/`categories`/`ids`/`max_results` by
    `arxiv-api`, `limit` (page size) and `max_pages` by `hf-daily`.
    """

    name: str = checked(text(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$"))
    kind: str = checked(one_of(*SOURCE_KINDS))
    url: str = checked(text(pattern=_HTTP_URL))
    enabled: bool = checked(boolean, True)
    categories: list[str] = checked(list_of(text()), default_factory=list)
    query: str | None = checked(optional(text()), None)
    ids: list[str] = checked(list_of(text()), default_factory=list)
    max_results: int = checked(integer(ge=1, le=2000), 200)
    limit: int = checked(integer(ge=1, le=1000), 100)
    max_pages: int = checked(integer(ge=1, le=100), 10)
    # When `digest run` fetches it (digest.triggers); None = the kind's default.
    schedule: str | None = checked(optional(then(text(), _schedule)), None)


@dataclasses.dataclass(init=False)
class SchedulerConfig(Checked):
    """The `[scheduler]` table: how often `digest run` sends and tidies up, and
    how often a standby asks for the scheduler lock."""

    send_every: str | float = checked(_duration, DEFAULT_SEND_EVERY)
    housekeeping: str = checked(then(text(), _schedule), DEFAULT_HOUSEKEEPING)
    standby_poll: str | float = checked(_duration, DEFAULT_STANDBY_POLL)


@dataclasses.dataclass(init=False)
class QueueConfig(Checked):
    """The `[queue]` table: how sends claim editions, and how the scheduler's
    send tick hands them to `digest worker` processes when
    `send_queue = "procrastinate"`.

    `batch_size` is the number of subscribers claimed per transaction, by
    `digest send` and by the tick alike, and so the most editions one job
    carries (one job per claimed batch).
    `stalled_after`: a worker whose heartbeat is older than this is taken for
    dead, and its running job is retried by another worker; workers beat every
    third of it."""

    batch_size: int = checked(integer(ge=1, le=10_000), 200)
    stalled_after: str | float = checked(_duration, "30s")


def _default_sources() -> list[SourceConfig]:
    return [
        SourceConfig(
            name="arxiv",
            kind="arxiv-rss",
            url="https://rss.arxiv.org/rss/cs.AI+cs.CL+cs.CV+cs.LG+cs.RO+cs.IR+cs.CR+stat.ML+eess.AS",
        ),
        SourceConfig(name="hf", kind="hf-daily", url="https://huggingface.co/api/daily_papers"),
    ]


def _one_address(value: str) -> str:
    _, address = parseaddr(value)
    local, _, domain = address.rpartition("@")
    if "\r" in value or "\n" in value or not (local and domain) or not address.isascii():
        raise ValueError(
            "must be one address like 'Trending Papers <digest@example.org>' "
            "(an international domain in its xn-- form)"
        )
    return value


def _unique_names(sources: list[SourceConfig]) -> list[SourceConfig]:
    names = [s.name for s in sources]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"source names must be unique (repeated: {', '.join(dupes)})")
    return sources


def _upper(check):
    """`check` on the value upper-cased (log levels are taken in any case)."""
    return lambda value: check(value.upper() if isinstance(value, str) else value)


@dataclasses.dataclass(init=False)
class Settings(Checked):
    """Validated settings. Built by `load_settings`, which does the TOML and
    environment overlay itself so every error can name the key's origin.
    `Settings(**values)` checks and converts as `load_settings` does and raises
    `Invalid` (a ValueError) on a bad value; `dataclasses.replace` works too."""

    database_url: str = checked(text(), "sqlite:///digest.db")
    mailer: str = checked(one_of("outbox", "console", "smtp", "sendgrid"), "outbox")
    outbox_dir: Path = checked(path, Path("outbox"))
    sendgrid_api_key: Secret | None = checked(optional(secret), None)
    sendgrid_host: str = checked(text(pattern=_HTTP_URL), "https://api.sendgrid.com")
    sendgrid_webhook_key: str | None = checked(optional(text()), None)
    smtp_url: Secret | None = checked(optional(secret), None)
    # Extra CA certificates to trust for the SMTP server.
    smtp_ca_file: Path | None = checked(optional(path), None)
    base_url: str = checked(  # kept without a trailing slash
        then(
            text(max_length=300, pattern=r"^https?://[^\s/]+(/\S*)?$"),
            lambda url: url.rstrip("/"),
        ),
        "http://localhost:8000",
    )
    secret_key: Secret | None = checked(optional(secret), None)
    sender: str = checked(then(text(), _one_address), "Trending Papers <digest@localhost>")
    postal_address: str | None = checked(optional(text()), None)
    contact: str | None = checked(optional(text()), None)
    hf_token: Secret | None = checked(optional(secret), None)
    send_rate: float = checked(number(ge=0, le=1_000_000), 0.0)
    send_empty: bool = checked(boolean, False)
    # Where the scheduler's send tick delivers: in its own process, or through
    # `digest worker` processes (PostgreSQL only; see digest.send_queue).
    send_queue: str = checked(one_of("in-process", "procrastinate"), "in-process")
    # Processes one in-process send is shared by (digest.send_processes).
    send_processes: int = checked(integer(ge=1, le=64), 1)
    retention_days: int = checked(integer(ge=1, le=36500), 365)
    misfire_grace_hours: float = checked(number(gt=0, le=24 * 365), 6.0)
    log_level: str = checked(
        _upper(one_of("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")), "INFO"
    )
    log_format: str = checked(one_of("text", "json"), "text")
    # Bearer token for GET /metrics; unset: only loopback clients may scrape.
    metrics_token: Secret | None = checked(optional(secret), None)
    sources: list[SourceConfig] = checked(
        then(list_of(record(SourceConfig)), _unique_names), default_factory=_default_sources
    )
    scheduler: SchedulerConfig = checked(record(SchedulerConfig), default_factory=SchedulerConfig)
    queue: QueueConfig = checked(record(QueueConfig), default_factory=QueueConfig)

    def __init__(self, **values: Any):
        super().__init__(**values)
        if self.send_queue == "procrastinate" and not self.database_url.startswith("postgresql"):
            raise Invalid(
                "procrastinate needs a PostgreSQL database_url "
                "(leave it unset to send in-process, as SQLite does)",
                self.send_queue,
                ("send_queue",),
            )

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
    except Invalid as exc:
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


def _describe(exc: Invalid, origin: Mapping[str, str]) -> str:
    """One line: the problem, with the key as the user wrote it."""
    loc = [str(part) for part in exc.loc]
    top = loc[0] if loc else "config"
    if top == "sources" and len(loc) >= 2:
        where = f"sources[{int(loc[1]) + 1}]" + "".join(f".{p}" for p in loc[2:])
    else:
        key, _, file = origin.get(top, top).partition(" in ")
        where = key + "".join(f".{p}" for p in loc[1:]) + (f" in {file}" if file else "")
    got = exc.value
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {str(got)[:60]!r})"
    if top in {n for v, n in ENV_VARS.items() if v in SECRET_VARS}:
        shown = ""  # never echo a secret
    return f"{where}: {exc.reason}{shown}"
