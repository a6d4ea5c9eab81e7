"""The `digest` command. Each command parses its options and calls library
functions; errors a user can fix print one line and exit non-zero.

The command modules are cheap to import (see `digest.cli.common`): each
command imports what it uses when it runs.
"""

from __future__ import annotations

from digest.cli import core, demo, preview, sent, status, subscribers, topics  # noqa: F401
from digest.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    app()
