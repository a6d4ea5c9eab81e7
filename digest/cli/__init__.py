"""The `digest` command. Each command parses its options and calls library
functions; errors a user can fix print one line and exit non-zero."""

from __future__ import annotations

import digest.cli.copy_db  # noqa: F401  (registers copy-db)
import digest.cli.health  # noqa: F401  (registers health)
from digest.cli import core, demo, preview, run, serve, subscribers, topics  # noqa: F401  (registers commands)
from digest.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    app()
