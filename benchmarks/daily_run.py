"""A realistic day's send at scale, stage by stage, against a naive baseline.

    python benchmarks/daily_run.py [--subscribers 10000] [--papers 2000]
        [--history-days 30] [--database-url URL] [--profile] [--baseline-sample 200]

Generates the day (see `benchmarks/daily_data.py`) straight into a database (a
fresh SQLite file by default; a PostgreSQL URL must name an empty database you
can throw away) in a child process (`--generate-only` just does that, and
`--no-generate` sends on a copy of such a database), then runs the production send path
(`digest.send.run_send`, every subscriber due) in this one and reports wall time
per stage, peak RSS, distinct digests, provider calls, messages per second and
database bytes per subscriber-edition. The naive baseline (Jinja + MJML for
every email, MIME built per email, one provider call per email) runs on a
sample of the same day's digests and is extrapolated to all of them.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.daily_data import NOW, generate  # noqa: E402
from benchmarks.stages import STAGES, StageTimer  # noqa: E402
from digest import delivery, render  # noqa: E402
from digest.db.engine import open_engine, upgrade  # noqa: E402
from digest.digests import Message, Recipient  # noqa: E402
from digest.mail.base import Outcome, one_call_each  # noqa: E402
from digest.mail.message import build_email, email_bytes  # noqa: E402

try:
    from digest.mail.message_template import MessageTemplate
except ImportError:  # measuring a revision from before it
    MessageTemplate = None
from digest.render import SiteInfo, render_digest  # noqa: E402
from digest.send import SendOptions, run_send  # noqa: E402

SITE = SiteInfo(
    base_url="https://papers.example.org",
    sender="Trending Papers <digest@papers.example.org>",
    postal_address="Example Lab, 1 Research Way, Cambridge",
)
SECRET = "benchmark-secret"


class CountingMailer:
    """Stands in for SMTP: one provider call per message, carrying the RFC 5322
    bytes it would send (built here, then dropped). With `templates`, each
    distinct digest's email is encoded once (`MessageTemplate`) and filled per
    recipient; else `build_email` runs for every message."""

    name = "benchmark"
    calls = staticmethod(one_call_each)

    def __init__(self, sender: str, templates: bool) -> None:
        self.sender, self.use_templates = sender, templates
        self.requests = self.bytes = 0
        self._templates: OrderedDict[int, tuple[object, object]] = OrderedDict()

    def send(self, call: Sequence[Message]) -> list[Outcome]:
        self.requests += 1
        outcomes = []
        for message in call:
            source = getattr(message, "benchmark_source", None)
            if self.use_templates and source is not None:
                message_id, data = self._template(source[0]).fill(source[1], date=NOW)
            else:
                email = build_email(message, self.sender, date=NOW)
                message_id, data = email["Message-ID"], email_bytes(email)
            self.bytes += len(data)
            outcomes.append(Outcome("sent", message_id=message_id))
        return outcomes

    def _template(self, compiled):
        # Keyed by identity: the run's CompileCache hands out one object per digest.
        key = id(compiled)
        if key not in self._templates:
            self._templates[key] = (compiled, MessageTemplate(compiled, self.sender))
            if len(self._templates) > 256:
                self._templates.popitem(last=False)
        return self._templates[key][1]

    def close(self) -> None:
        pass


class SourceHook:
    """Until `Message` carries its compiled digest (grouped sending), attach the
    compiled digest and recipient `personalize` was given to each message, so
    the mailer can fill a `MessageTemplate`. Benchmark-only."""

    def install(self) -> None:
        self._original = original = delivery.personalize

        def personalize(compiled, recipient):
            message = original(compiled, recipient)
            message.benchmark_source = (compiled, recipient)
            return message

        delivery.personalize = personalize

    def uninstall(self) -> None:
        delivery.personalize = self._original


def make_mailer(mime: str):
    # When the SendGrid mailer and its fake server land, swap this line.
    return CountingMailer(SITE.sender, templates=mime == "template")


def table_bytes(engine: Engine, table: str) -> int:
    """Bytes of a table with its indexes."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            query = f"SELECT pg_total_relation_size('{table}')"
            return int(conn.execute(text(query)).scalar_one())
        query = (
            "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN "
            f"(SELECT name FROM sqlite_master WHERE tbl_name = '{table}')"
        )
        return int(conn.execute(text(query)).scalar_one())


def storage(engine: Engine) -> tuple[int, int]:
    """(bytes of editions, bytes of digests), indexes included."""
    return table_bytes(engine, "editions"), table_bytes(engine, "digests")


class Sampler:
    """Keeps every k-th digest the send path compiles, for the naive baseline,
    and counts the distinct ones."""

    def __init__(self, every: int) -> None:
        self.every, self.seen, self.sample, self.keys = every, 0, [], set()
        self._original = None

    def install(self) -> None:
        sampler = self
        original = self._original = render.CompileCache.get

        def get(cache, digest):
            compiled = original(cache, digest)
            sampler.seen += 1
            sampler.keys.add(digest.rendering_key())
            if sampler.seen % sampler.every == 0:
                sampler.sample.append(digest)
            return compiled

        render.CompileCache.get = get

    def uninstall(self) -> None:
        render.CompileCache.get = self._original


def naive_seconds_per_email(sample: list) -> tuple[float, float]:
    """(wall, CPU) seconds per email: Jinja + MJML compiled for this one email,
    then its MIME bytes."""
    recipient = Recipient(1, "reader@example.org", SITE.base_url + "/u/x", SITE.base_url + "/p/x")
    started, cpu_started = time.perf_counter(), time.process_time()
    for digest in sample:
        message = render_digest(digest, SITE, recipient)
        email_bytes(build_email(message, SITE.sender, date=NOW))
    count = max(len(sample), 1)
    return (time.perf_counter() - started) / count, (time.process_time() - cpu_started) / count


def run(args) -> dict:
    engine = open_engine(args.database_url)
    before = storage(engine)
    mailer = make_mailer(args.mime)
    hook = SourceHook()
    sampler = Sampler(max(args.subscribers * 2 // args.baseline_sample, 1))
    timer = StageTimer().install()
    sampler.install()  # outside the timer: its bookkeeping is not the send path's
    hook.install()
    # Wall time: a process_time timer is a system call per event and makes the
    # profiled run an order of magnitude slower.
    profiler = cProfile.Profile() if args.profile else None
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        if profiler:
            profiler.enable()
        report = run_send(
            engine,
            mailer,
            SendOptions(now=NOW, force_hour=True, batch_size=args.batch_size),
            site=SITE,
            secret=SECRET,
        )
        if profiler:
            profiler.disable()
    finally:
        hook.uninstall()
        sampler.uninstall()
        timer.uninstall()
    total = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    after = storage(engine)
    grown, digests_grown = after[0] - before[0], after[1] - before[1]
    engine.dispose()
    editions = sum(report.counts[k] for k in ("sent", "empty", "failed", "unknown"))
    naive = naive_seconds_per_email(sampler.sample)
    return {
        "total": total,
        "cpu": cpu,
        "stages": timer.seconds,
        "stage_cpu": timer.cpu,
        "missing": timer.missing,
        "peak": peak,
        "counts": report.counts,
        "editions": editions,
        "distinct": len(sampler.keys),
        "requests": mailer.requests,
        "bytes_per_edition": grown / max(editions, 1),
        "digest_bytes": digests_grown,
        "naive_per_email": naive,
        "naive_sample": len(sampler.sample),
        "profile": profiler,
    }


def naive_total(result: dict) -> tuple[float, float]:
    """(wall, CPU) of our run with rendering and mail replaced by the naive
    per-email cost."""
    sent = result["counts"]["sent"]
    wall_per, cpu_per = result["naive_per_email"]
    out = []
    for total, stages, per in (
        (result["total"], result["stages"], wall_per),
        (result["cpu"], result["stage_cpu"], cpu_per),
    ):
        out.append(total - stages["render"] - stages["deliver: mailer"] + per * sent)
    return out[0], out[1]


def report(args, generated: float, world_line: str, result: dict) -> str:
    backend = "PostgreSQL" if args.database_url.startswith("postgresql") else "SQLite"
    sent = result["counts"]["sent"]
    lines = [
        f"N = {args.subscribers:,} subscribers, {args.papers:,} papers a day, "
        f"{args.history_days} history days, {backend}; Python {platform.python_version()}, "
        f"{platform.machine()}, one process; MIME {args.mime}.",
        "",
        f"- generate: {generated:.1f} s ({world_line})",
        f"- editions: {result['editions']:,} ({dict(result['counts'])}), distinct digests "
        f"{result['distinct']:,}, provider calls {result['requests']:,}",
        "",
        "| stage | wall s | CPU s | share of CPU |",
        "|---|---:|---:|---:|",
    ]
    total, cpu = result["total"], result["cpu"]
    wall_done = cpu_done = 0.0
    for stage in STAGES:
        seconds, used = result["stages"][stage], result["stage_cpu"][stage]
        wall_done, cpu_done = wall_done + seconds, cpu_done + used
        lines.append(f"| {stage} | {seconds:.2f} | {used:.2f} | {100 * used / cpu:.0f}% |")
    other, other_cpu = total - wall_done, cpu - cpu_done
    lines.append(
        f"| other (transactions, loop) | {other:.2f} | {other_cpu:.2f} | "
        f"{100 * other_cpu / cpu:.0f}% |"
    )
    lines.append(f"| **total** | **{total:.2f}** | **{cpu:.2f}** | |")
    naive_wall, naive_cpu = naive_total(result)
    lines += [
        "",
        f"- messages/s: {sent / total:,.0f} by wall time, {sent / cpu:,.0f} by CPU time; "
        f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; peak RSS "
        f"{result['peak'] / 2**20:.0f} MiB; editions growth "
        f"{result['bytes_per_edition']:,.0f} bytes per subscriber-edition, shared digests "
        f"{result['digest_bytes'] / 2**20:,.1f} MiB",
        f"- naive baseline (Jinja + MJML + MIME per email, one call each; measured on "
        f"{result['naive_sample']} of the day's digests, {1000 * result['naive_per_email'][1]:.2f} "
        f"ms CPU an email, extrapolated to {sent:,}): {naive_wall:.1f} s wall, "
        f"{naive_cpu:.1f} s CPU: {naive_cpu / cpu:.1f}x our CPU time",
    ]
    if result["missing"]:
        lines.append(f"- not instrumented (counted in other): {', '.join(result['missing'])}")
    return "\n".join(lines)


def profile_lines(profiler: cProfile.Profile, limit: int = 25) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(limit)
    return out.getvalue()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=2000, help="new papers a day")
    parser.add_argument("--history-days", type=int, default=30)
    parser.add_argument("--database-url", help="SQLAlchemy URL of an empty, throw-away database")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--baseline-sample", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top entries")
    parser.add_argument(
        "--mime",
        choices=("template", "per-message"),
        default="template" if MessageTemplate else "per-message",
        help="MIME built once per digest and filled per recipient, or build_email per message",
    )
    parser.add_argument(
        "--generate-only", action="store_true", help="fill --database-url, send nothing"
    )
    parser.add_argument(
        "--no-generate",
        action="store_true",
        help="send on --database-url as it is (a copy of a --generate-only database)",
    )
    return parser.parse_args(argv)


def generate_world(args: argparse.Namespace) -> str:
    """Migrate the database and fill it; a line saying what was made."""
    engine = open_engine(args.database_url)
    upgrade(engine)
    world = generate(
        engine, subscribers=args.subscribers, papers=args.papers, history_days=args.history_days
    )
    engine.dispose()
    return (
        f"{world.papers:,} papers, {world.subscribers:,} subscribers, "
        f"{world.history_editions:,} past editions, {world.history_digests:,} past digests"
    )


def main() -> None:
    args = parse_args()
    if args.generate_only:
        print(generate_world(args))
        return
    if args.no_generate:
        result = run(args)
        print(report(args, 0.0, "generated before", result))
        if result["profile"]:
            print(profile_lines(result["profile"]))
        return
    with tempfile.TemporaryDirectory(prefix="daily-run-") as tmp:
        args.database_url = args.database_url or f"sqlite:///{tmp}/daily.db"
        started = time.perf_counter()
        # A child process, so the peak RSS reported is the send's.
        child = subprocess.run(
            [sys.executable, __file__, "--generate-only", *sys.argv[1:]]
            + ["--database-url", args.database_url],
            check=True,
            capture_output=True,
            text=True,
        )
        generated = time.perf_counter() - started
        result = run(args)
        print(report(args, generated, child.stdout.strip(), result))
        if result["profile"]:
            print()
            print(profile_lines(result["profile"]))


if __name__ == "__main__":
    main()
