"""The `digest` command. Each command parses its options and calls library
functions; errors a user can fix print one line and exit non-zero."""

from __future__ import annotations

from digest.cli import core, demo, preview, run, subscribers, topics  # noqa: F401  (registers commands)
from digest.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    app()
