"""The `digest` command. Each command parses its options and calls library
functions; errors a user can fix print one line and exit non-zero.

The command modules are cheap to import (see `digest.cli.common`): each
command imports what it uses when it runs.
"""

from __future__ import annotations

import digest.cli.copy_db  # noqa: F401  (registers copy-db)
import digest.cli.health  # noqa: F401  (registers health)
from digest.cli import (  # noqa: F401  (registers commands)
    core,
    demo,
    preview,
    run,
    sent,
    serve,
    status,
    subscribers,
    topics,
    worker,
)
from digest.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    app()
