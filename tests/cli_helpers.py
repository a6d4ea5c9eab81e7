"""Running the real `digest` command in-process against a test database."""

from __future__ import annotations

from dataclasses import dataclass

from typer.testing import CliRunner

from digest.cli import app


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


def run_digest(args: list[str], env: dict[str, str], cwd=None) -> Result:
    """Invoke `digest ARGS` with `env` overlaid (config comes from env only)."""
    runner = CliRunner()
    full_env = {"DIGEST_CONFIG": "", **env}
    if cwd is not None:
        import os

        old = os.getcwd()
        os.chdir(cwd)
    try:
        result = runner.invoke(app, args, env=full_env, catch_exceptions=False)
    finally:
        if cwd is not None:
            os.chdir(old)
    return Result(result.exit_code, result.stdout, result.stderr)
