"""`digest send`'s run: the send itself, its progress bar, and the record of
its outcome that `digest status` shows (including why editions were released
or failed, taken from the run's warnings, which name subscribers by id)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from digest.editions import Planned
from digest.send import SendOptions, SendReport, run_send
from digest.status import record_send, who
from digest.wiring import Runtime

MAX_PROBLEMS = 20


class _Problems(logging.Handler):
    """Collects the run's warnings and errors (one line each)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.lines) < MAX_PROBLEMS:
            self.lines.append(" ".join(record.getMessage().splitlines()))


def send_and_record(
    rt: Runtime,
    *,
    now: datetime,
    on_date: date | None,
    force_hour: bool,
    only: str | None,
    dry_run: bool,
    progress: bool,
    resend_unknown: bool = False,
    processes: int | None = None,
    stop: Callable[[], bool] | None = None,
) -> tuple[SendReport, dict[str, Any]]:
    """Run `send`; unless it is a dry run, keep its outcome as the last send
    run's. `stop` is the send's stop flag (`SendOptions.stop`)."""
    options = SendOptions(
        now=now,
        on_date=on_date,
        force_hour=force_hour,
        only=only,
        dry_run=dry_run,
        send_empty=rt.settings.send_empty,
        retention_days=rt.settings.retention_days,
        resend_unknown=resend_unknown,
        send_rate=rt.settings.send_rate,
        claim_size=rt.settings.queue.batch_size,
        processes=processes or rt.settings.send_processes,
        stop=stop,
    )
    problems = _Problems()
    logger = logging.getLogger("digest")
    logger.addHandler(problems)
    started = datetime.now(UTC)
    mailer = rt.mailer()
    try:
        report = _run(rt, mailer, options, progress)
    except Exception as exc:
        if not dry_run:
            problems.lines.append(f"the run stopped: {type(exc).__name__}: {exc}")
            record_send(rt.engine, _record(started, SendReport(), problems.lines, only, False))
        raise
    finally:
        logger.removeHandler(problems)
        mailer.close()
    failed = any(report.counts[k] for k in ("failed", "unknown", "released"))
    record = _record(started, report, problems.lines, only, not failed)
    if not dry_run:
        record_send(rt.engine, record)
    return report, record


def _record(started, report: SendReport, problems: list[str], only, ok: bool) -> dict[str, Any]:
    return {
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "ok": ok,
        "summary": report.line(),
        "counts": dict(report.counts),
        "only_one_subscriber": only is not None,
        "problems": problems,
    }


def _run(rt: Runtime, mailer, options: SendOptions, progress: bool) -> SendReport:
    if not progress:
        return run_send(rt.engine, mailer, options, site=rt.site, secret=rt.secret)
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(file=sys.stderr), transient=True) as bar:
        task = bar.add_task("Sending", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return run_send(
            rt.engine, mailer, options, site=rt.site, secret=rt.secret, progress=advance
        )


def describe_planned(planned: Planned, send_empty: bool) -> dict[str, Any]:
    """A dry run's edition as the real run would classify it."""
    sub = planned.subscriber
    empty = planned.empty and not send_empty
    return {
        "subscriber": who(sub.id, sub.email),
        "subscriber_id": sub.id,
        "period": planned.period,
        "papers": planned.digest.paper_count,
        "class": "empty" if empty else "would-send",
    }
