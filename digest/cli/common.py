"""Shared CLI plumbing: the Typer app, global options, clean failures."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from datetime import UTC, date, datetime

import typer
from rich.console import Console
from typer.core import TyperGroup

from digest.config import ConfigError, load_settings
from digest.db.engine import SchemaError
from digest.wiring import Runtime

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class UserError(Exception):
    """A problem the user can fix; printed as one line."""


# Exceptions whose message is already a readable line for the user.
USER_ERRORS: tuple[type[Exception], ...] = (UserError, ConfigError, SchemaError)


def register_user_error(exc_type: type[Exception]) -> None:
    global USER_ERRORS
    USER_ERRORS = (*USER_ERRORS, exc_type)


@contextlib.contextmanager
def fail_cleanly():
    """Turn a user-fixable error into one line on stderr and exit status 1."""
    try:
        yield
    except USER_ERRORS as exc:
        err_console.print(f"digest: error: {exc}", markup=False, soft_wrap=True)
        sys.exit(1)


class DigestGroup(TyperGroup):
    def invoke(self, ctx):
        with fail_cleanly():
            return super().invoke(ctx)


app = typer.Typer(
    name="digest",
    cls=DigestGroup,
    help="Trending Papers Digest: personal digests of new and trending research papers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain click output: usage errors stay short lines, not boxed panels.
    rich_markup_mode=None,
)


class State:
    config_path: str | None = None


state = State()


@app.callback()
def _global_options(
    config: str = typer.Option(
        None, "--config", "-c", help="TOML config file (default: $DIGEST_CONFIG or ./digest.toml)."
    ),
) -> None:
    state.config_path = config


def runtime() -> Runtime:
    settings = load_settings(state.config_path)
    configure_logging(settings.log_level, settings.log_format)
    return Runtime(settings)


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party chatter (HTTP request lines) only when debugging.
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel("DEBUG" if level == "DEBUG" else "WARNING")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Structured fields passed as `extra={"fields": {...}}` (e.g. scheduler job runs).
        payload.update(getattr(record, "fields", None) or {})
        return json.dumps(payload, default=str)


def parse_date(value: str | None, option: str = "--date") -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option}: expected a date as YYYY-MM-DD, got {value!r}") from None


def utcnow() -> datetime:
    return datetime.now(UTC)
