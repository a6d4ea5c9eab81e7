"""Shared CLI plumbing: the Typer app, global options, clean failures.

Importing this module (and every `digest.cli` command module) must stay cheap:
`digest --help` loads them all. Anything heavy (SQLAlchemy, the config,
rendering) is imported inside the command that uses it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import typer
from typer.core import TyperArgument, TyperGroup

import digest
from digest.cli.output import console, err_console

if TYPE_CHECKING:
    from digest.wiring import Runtime

__all__ = ["UserError", "app", "console", "err_console", "fail_cleanly", "runtime"]


class UserError(Exception):
    """A problem the user can fix; printed as one line."""


# Exceptions whose message is already a readable line for the user, named as
# "module:Class" so that checking for them imports nothing: an exception of a
# class whose module was never imported cannot have been raised.
USER_ERRORS: list[str] = [
    "digest.config:ConfigError",
    "digest.db.engine:SchemaError",
    "digest.previews:PreviewError",
    "digest.topics:UnknownTopicError",
    "digest.subscriber_input:InputError",
    "digest.mail.base:AuthError",
    "digest.copy_db:CopyError",
]


def register_user_error(exc_type: type[Exception] | str) -> None:
    """Treat `exc_type` (a class, or "module:Class") as a readable one-line error."""
    name = exc_type if isinstance(exc_type, str) else f"{exc_type.__module__}:{exc_type.__name__}"
    if name not in USER_ERRORS:
        USER_ERRORS.append(name)


def is_user_error(exc: BaseException) -> bool:
    if isinstance(exc, UserError):
        return True
    for name in USER_ERRORS:
        module, _, cls = name.partition(":")
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(exc, getattr(loaded, cls, ())):
            return True
    return False


def describe_os_error(exc: OSError) -> str:
    """One line for a file-system failure: what, where, and what to do."""
    reason = exc.strerror or type(exc).__name__
    where = f" {exc.filename}" if exc.filename else ""
    line = f"cannot write or read{where}: {reason}"
    if isinstance(exc, PermissionError) or exc.errno in (13, 30):  # EACCES, EROFS
        line += " (run it in a folder you can write to, or change the path in the config)"
    return line


@contextlib.contextmanager
def fail_cleanly():
    """Turn a user-fixable error or a file-system failure into one line on
    stderr and exit status 1; a closed pipe (`digest ... | head`) ends quietly."""
    try:
        yield
    except BrokenPipeError:
        sys.stderr.close()  # nothing more can be said; avoid a second error at exit
        sys.exit(141)
    except Exception as exc:
        if is_user_error(exc):
            line = str(exc)
        elif isinstance(exc, OSError):
            line = describe_os_error(exc)
        elif _is_database_trouble(exc):
            # Environmental (read-only file, disk full, connection lost): say it in a line.
            orig = getattr(exc, "orig", None) or exc
            first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
            line = f"the database refused the operation: {first}"
        else:
            raise
        err_console.print(f"digest: error: {line}", markup=False, soft_wrap=True)
        sys.exit(1)


def _is_database_trouble(exc: BaseException) -> bool:
    errors = sys.modules.get("sqlalchemy.exc")
    return errors is not None and isinstance(exc, errors.OperationalError)


class DigestGroup(TyperGroup):
    """The command groups: clean failures, and help without Python types."""

    def invoke(self, ctx):
        with fail_cleanly():
            return super().invoke(ctx)

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        for param in getattr(command, "params", ()):
            if isinstance(param, TyperArgument) and param.metavar:
                # Typer shows "EMAIL <str>"; the metavar already says what to give.
                param.display_type_rich = lambda ctx: None
        return command


app = typer.Typer(
    name="digest",
    cls=DigestGroup,
    help="Trending Papers Digest: personal digests of new and trending research papers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain click output: usage errors stay short lines, not boxed panels.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["--help", "-h"]},
)


class State:
    config_path: str | None = None


state = State()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"digest {digest.__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    config: str = typer.Option(
        None,
        "--config",
        "-c",
        metavar="PATH",
        help="TOML config file (default: $DIGEST_CONFIG, else ./digest.toml when present).",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    state.config_path = config


def runtime() -> Runtime:
    from digest.config import load_settings
    from digest.wiring import Runtime

    settings = load_settings(state.config_path)
    configure_logging(settings.log_level, settings.log_format)
    return Runtime(settings)


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        from digest.logs import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Third-party chatter (HTTP request lines) only when debugging.
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel("DEBUG" if level == "DEBUG" else "WARNING")


def parse_date(value: str | None, option: str = "--date") -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{option}: expected a date as YYYY-MM-DD, got {value!r}") from None


def utcnow() -> datetime:
    return datetime.now(UTC)
