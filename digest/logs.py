"""Log lines as JSON objects, each carrying the run id of the process.

`RUN_ID` is made once per process invocation (a `digest send`, one `digest
run`, one web server), so every line a process writes can be grouped, and
lines of concurrent processes told apart, in a log store.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import UTC, datetime

RUN_ID = secrets.token_hex(8)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, run_id (and the
    traceback as `exception` when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "run_id": RUN_ID,
        }
        # Structured fields passed as `extra={"fields": {...}}` (e.g. scheduler job runs).
        line.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)
