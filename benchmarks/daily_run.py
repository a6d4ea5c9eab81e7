"""A realistic day's send at scale, stage by stage, against a naive baseline.

    python benchmarks/daily_run.py [--subscribers 10000] [--papers 2000]
        [--history-days 30] [--database-url URL] [--profile] [--baseline-sample 200]
        [--mailer sendgrid|mime] [--mime template|per-message] [--processes N]
        [--log-level INFO] [--log-file PATH]

Generates the day (see `benchmarks/daily_data.py`) straight into a database (a
fresh SQLite file by default; a PostgreSQL URL must name an empty database you
can throw away) in a child process (`--generate-only` just does that, and
`--no-generate` sends on a copy of such a database), then runs the production send path
(`digest.send.run_send`, every subscriber due) in this one and reports wall time
per stage, peak RSS, distinct digests, provider calls, messages per second and
database bytes per subscriber-edition. The mailer is the production SendGrid
mailer against the fake SendGrid server on loopback (see
`benchmarks/daily_mail.py`; `--mailer mime` builds SMTP's MIME bytes instead).
`--processes N` runs N `digest send`s (each `run_send` in a process of its
own) over the same database at once and adds each one's wall time, CPU and
peak RSS. The naive baseline (Jinja + MJML for every email, one API request
per email through the `sendgrid` package as shipped, or MIME per email) runs on
a sample of the same day's digests and is extrapolated to all of them. The
send logs as `digest send` does (`--log-level`, INFO by default), into a file
(`--log-file`); the report counts its lines.
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import io
import os
import platform
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.daily_data import NOW, add_day, generate  # noqa: E402
from benchmarks.daily_mail import fake_sendgrid, naive_seconds_per_email, server_counts  # noqa: E402
from benchmarks.daily_send import (  # noqa: E402
    SITE,
    log_as_digest_send,
    send_in_processes,
    send_once,
)
from benchmarks.stages import STAGES  # noqa: E402
from digest.db.engine import open_engine, upgrade  # noqa: E402


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


def relation_bytes(engine: Engine, table: str) -> dict[str, int]:
    """Bytes of a table's rows ("heap") and of each of its indexes, by name
    (main fork only on PostgreSQL: `table_bytes` also counts the free-space
    and visibility maps)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            query = (
                "SELECT CASE WHEN c.oid = t.oid THEN 'heap' ELSE c.relname END, "
                "pg_relation_size(c.oid) FROM pg_class AS c, "
                "(SELECT CAST(CAST(:t AS text) AS regclass) AS oid) AS t WHERE c.oid = t.oid "
                "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = t.oid)"
            )
        else:
            query = (
                "SELECT CASE WHEN name = :t THEN 'heap' ELSE name END, sum(pgsize) FROM dbstat "
                "WHERE name IN (SELECT name FROM sqlite_master WHERE tbl_name = :t) GROUP BY name"
            )
        return {name: int(size) for name, size in conn.execute(text(query), {"t": table})}


def run(args) -> dict:
    before = _storage(args)
    with fake_sendgrid(args.mailer) as url:
        result = _send(args, url)
        result["api"] = server_counts(url)
        if url is not None:
            result["requests"] = result["api"]["received"]
        result["naive_per_email"] = naive_seconds_per_email(
            result["sample"], args.mailer, SITE, url, NOW
        )
        after = _storage(args)
        result["days"] = [_growth(result, before, after)]
        for day in range(1, args.days):
            result["days"].append(_next_day(args, url, day))
    grown = result["days"][0]
    if args.log_file:
        with open(args.log_file, "rb") as log:
            result["log_lines"] = sum(1 for _ in log)
    result.update(
        editions=grown["editions"],
        distinct=len(result["keys"]),
        bytes_per_edition=grown["bytes_per_edition"],
        digest_bytes=grown["digest_bytes"],
        naive_sample=len(result["sample"]),
    )
    return result


def _send(args, url: str | None) -> dict:
    if args.processes > 1:
        return send_in_processes(args, url)
    return send_once(args, url, profile=args.profile)


def _storage(args) -> tuple[int, int, dict[str, int]]:
    engine = open_engine(args.database_url)
    try:
        return _measured(engine)
    finally:
        engine.dispose()


def _measured(engine: Engine) -> tuple[int, int, dict[str, int]]:
    """`storage`, and the editions table's parts (`relation_bytes`)."""
    return (*storage(engine), relation_bytes(engine, "editions"))


def _growth(result: dict, before: tuple, after: tuple) -> dict:
    editions = sum(result["counts"][k] for k in ("sent", "empty", "failed", "unknown"))
    per = max(editions, 1)
    return {
        "total": result["total"],
        "editions": editions,
        "bytes_per_edition": (after[0] - before[0]) / per,
        "digest_bytes": after[1] - before[1],
        "parts": {name: (size - before[2].get(name, 0)) / per for name, size in after[2].items()},
    }


def _next_day(args, url: str | None, day: int) -> dict:
    """The send of `day` days later on the same database: that day's papers
    added, then (PostgreSQL) VACUUM and ANALYZE as autovacuum would run them
    on a live database between two daily sends, so that the growth measured
    is a day's in steady state (dead row versions' room reused)."""
    engine = open_engine(args.database_url)
    try:
        args.now = add_day(engine, day, args.papers)
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM (ANALYZE)"))
        before = _measured(engine)
    finally:
        engine.dispose()
    result = _send(args, url)
    grown = _growth(result, before, _storage(args))
    args.now = NOW
    return {"day": day, **grown}


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


def ratio_ceilings(result: dict) -> tuple[float, float]:
    """The naive CPU / our wall ratio if our render and mailer stages cost
    nothing, at this run's use of the cores (wall per CPU second, the fake
    SendGrid's CPU counted): (with the fake's CPU as measured, without it).
    The naive baseline keeps every other stage of ours (`naive_total`), so no
    rendering or request saving alone can take the ratio past these."""
    fake = result.get("api", {}).get("cpu_seconds") or 0.0
    stages = result["stage_cpu"]
    kept = result["cpu"] - stages["render"] - stages["deliver: mailer"]
    per_cpu = result["total"] / (result["cpu"] + fake)
    naive_cpu = naive_total(result)[1]
    return naive_cpu / ((kept + fake) * per_cpu), naive_cpu / (kept * per_cpu)


def report(args, generated: float, world_line: str, result: dict) -> str:
    backend = "PostgreSQL" if args.database_url.startswith("postgresql") else "SQLite"
    sent = result["counts"]["sent"]
    processes = "one process" if args.processes == 1 else f"{args.processes} processes"
    if args.send_processes > 1:
        processes += f", each a send shared by {args.send_processes} forked processes"
    if args.mailer == "sendgrid":
        mailer = "SendGrid mailer to the fake server on loopback"
        api = result["api"]
        calls = (
            f"API requests {api['received']:,} ({api['recipients']:,} recipients, "
            f"{api['connections']:,} connections, {api['bytes'] / 2**20:,.1f} MiB)"
        )
    else:
        mailer, calls = f"MIME {args.mime}", f"provider calls {result['requests']:,}"
    lines = [
        f"N = {args.subscribers:,} subscribers, {args.papers:,} papers a day, "
        f"{args.history_days} history days, {backend}; Python {platform.python_version()}, "
        f"{platform.machine()}, {processes}; {mailer}.",
        "",
        f"- generate: {generated:.1f} s ({world_line})",
        f"- editions: {result['editions']:,} ({dict(result['counts'])}), distinct digests "
        f"{result['distinct']:,}, {calls}",
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
    if "processes" in result:
        lines.append(f"| **all processes** | | **{cpu:.2f}** | |")
        lines.append(f"| **wall, first start to last exit** | **{total:.2f}** | | |")
    else:
        other, other_cpu = total - wall_done, cpu - cpu_done
        lines.append(
            f"| other (transactions, loop) | {other:.2f} | {other_cpu:.2f} | "
            f"{100 * other_cpu / cpu:.0f}% |"
        )
        lines.append(f"| **total** | **{total:.2f}** | **{cpu:.2f}** | |")
    naive_wall, naive_cpu = naive_total(result)
    mailer_cpu = result["stage_cpu"]["deliver: mailer"]
    if args.mailer == "sendgrid":
        naive_what = "Jinja + MJML per email, one API request per email (sendgrid as shipped)"
        per_call = f", {1000 * mailer_cpu / max(result['requests'], 1):.2f} ms a request"
    else:
        naive_what, per_call = "Jinja + MJML + MIME per email, one call each", ""
    lines += [
        "",
        f"- messages/s: {sent / total:,.0f} by wall time, {sent / cpu:,.0f} by CPU time; "
        f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; peak RSS "
        f"{result['peak'] / 2**20:.0f} MiB; editions growth "
        f"{result['bytes_per_edition']:,.0f} bytes per subscriber-edition, shared digests "
        f"{result['digest_bytes'] / 2**20:,.1f} MiB",
        f"- mailer CPU: {1000 * mailer_cpu / max(sent, 1):.3f} ms a message{per_call}",
        *_fake_line(result),
        f"- naive baseline ({naive_what}; measured on "
        f"{result['naive_sample']} of the day's digests, {1000 * result['naive_per_email'][1]:.2f} "
        f"ms CPU an email, extrapolated to {sent:,}): {naive_wall:.1f} s wall, "
        f"{naive_cpu:.1f} s CPU: {naive_cpu / cpu:.1f}x our CPU time; naive in one process "
        f"(its CPU time as wall time) / our wall time: {naive_cpu / total:.1f}x",
        "- that ratio's ceiling (the naive baseline keeps our other stages): {:.1f}x if our "
        "render and mailer stages cost nothing, {:.1f}x if the fake's CPU went too".format(
            *ratio_ceilings(result)
        ),
    ]
    if "log_lines" in result:
        lines.append(
            f"- log: {result['log_lines']:,} lines at {args.log_level} (the send's, as `digest "
            f"send` writes them; INFO is its default)"
        )
    for i, each in enumerate(result.get("processes", ()), 1):
        lines.append(
            f"- process {i}: {each['total']:.1f} s wall, {each['cpu']:.1f} s CPU, peak RSS "
            f"{each['peak'] / 2**20:.0f} MiB, {dict(each['counts'])}"
        )
    for i, each in enumerate(result["days"]):
        parts = ", ".join(f"{name} {size:,.0f}" for name, size in sorted(each["parts"].items()))
        day = "the day above" if i == 0 else f"day {i + 1} (after VACUUM on PostgreSQL)"
        lines.append(
            f"- {day}: {each['total']:.1f} s wall, {each['editions']:,} editions, editions "
            f"growth {each['bytes_per_edition']:,.0f} bytes per subscriber-edition ({parts}), "
            f"shared digests {each['digest_bytes'] / 2**20:,.1f} MiB"
        )
    if result["missing"]:
        lines.append(f"- not instrumented (counted in other): {', '.join(result['missing'])}")
    return "\n".join(lines)


def _fake_line(result: dict) -> list[str]:
    """The fake SendGrid's CPU during the send: it shares the machine's cores
    with the sender, which a real provider would not."""
    spent = result.get("api", {}).get("cpu_seconds")
    if spent is None:
        return []
    share = 100 * spent / (spent + result["cpu"])
    return [
        f"- fake SendGrid server (same machine): {spent:.1f} s CPU for these requests, "
        f"{share:.0f}% of the CPU the send and the fake used together"
    ]


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
    parser.add_argument(
        "--days",
        type=int,
        default=1,
        help="send this many days in a row on the same database (each later day adds its "
        "papers; on PostgreSQL VACUUM runs between days, as autovacuum would) and report "
        "each day's storage growth",
    )
    parser.add_argument("--baseline-sample", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top entries")
    parser.add_argument(
        "--profile-out", help="with --profile: also write the whole profile there (pstats)"
    )
    parser.add_argument(
        "--mailer",
        choices=("sendgrid", "mime"),
        default="sendgrid",
        help="the SendGrid mailer to a local fake server, or SMTP's MIME bytes built and dropped",
    )
    parser.add_argument(
        "--mime",
        choices=("template", "per-message"),
        default="template",
        help="with --mailer mime: MIME once per digest filled per recipient (what the outbox "
        "and SMTP mailers do), or build_email per message",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="sends running at once over the same database, each in its own process",
    )
    parser.add_argument(
        "--send-processes",
        type=int,
        default=1,
        help="one send shared by this many forked processes (digest send --processes N)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        help="the send's log level, as DIGEST_LOG_LEVEL (INFO, the default, as `digest send` "
        "runs); the lines go to --log-file",
    )
    parser.add_argument(
        "--log-file", help="where the send's log lines go (default: a file deleted afterwards)"
    )
    parser.add_argument(
        "--generate-only", action="store_true", help="fill --database-url, send nothing"
    )
    parser.add_argument(
        "--no-generate",
        action="store_true",
        help="send on --database-url as it is (a copy of a --generate-only database)",
    )
    args = parser.parse_args(argv)
    args.now = NOW  # the day sent (later days of --days move it)
    return args


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
    if args.log_file is None:
        handle, args.log_file = tempfile.mkstemp(prefix="daily-run-", suffix=".log")
        os.close(handle)
        atexit.register(Path(args.log_file).unlink, missing_ok=True)
    log_as_digest_send(args.log_level, args.log_file)
    if args.no_generate:
        result = run(args)
        print(report(args, 0.0, "generated before", result))
        if result["profile"]:
            print(profile_lines(result["profile"]))
            if args.profile_out:
                result["profile"].dump_stats(args.profile_out)
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
