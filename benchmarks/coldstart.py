"""Cold start: how long a `digest` command takes from process start to exit.

    python benchmarks/coldstart.py [--runs 7] [--baseline CHECKOUT | --baseline-command PATH]
                                   [--write LABEL]

Each command runs as its own subprocess (a new interpreter, as a user or cron
runs it), `--runs` times, against a demo database made once in a temporary
folder by `digest demo`. Reported: the median and the fastest wall-clock run
in seconds, and the least CPU time (user + system) of a run: the machine is
shared, so the fastest run and the CPU time are the best estimates of the
cost itself. Bytecode caches are as on a user's second run: an untimed first
run of each command writes them (PYTHONDONTWRITEBYTECODE is dropped), the
timed runs use them. `--baseline CHECKOUT` also times another checkout (e.g.
a `git archive` of main) with this installation, put first on its
PYTHONPATH; `--baseline-command PATH` the `digest` command of another
installation (e.g. main in its own virtualenv, when the dependencies differ).
Baseline runs alternate with this one's so that both meet the same load.
`--write LABEL` records the table under "## Cold start" in
benchmarks/RESULTS.md as "### LABEL", replacing an earlier one of that label
and leaving the rest of the file alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).parent / "RESULTS.md"
SECTION = "## Cold start"

COMMANDS = (
    ("digest --help", ["--help"]),
    ("digest --version", ["--version"]),
    ("digest topics list", ["topics", "list"]),
    ("digest subscribers list", ["subscribers", "list"]),
    ("digest status", ["status"]),
    ("digest preview --email ada@example.org --date 2026-11-20 --format text", None),
    ("digest preview --topic robotics --date 2026-11-20 --format text", "topic"),
    ("digest send --now --dry-run", ["send", "--now", "--dry-run"]),
)
PREVIEWS = {
    None: ["preview", "--email", "ada@example.org", "--date", "2026-11-20", "--format", "text"],
    "topic": ["preview", "--topic", "robotics", "--date", "2026-11-20", "--format", "text"],
}


def digest_command() -> list[str]:
    """The installed console script beside this interpreter, else `python -m digest`."""
    script = Path(sys.executable).parent / "digest"
    return [str(script)] if script.exists() else [sys.executable, "-m", "digest"]


def timed(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds (user + system), exit status) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def measure(runs: int, baseline: str | None, baseline_command: str | None = None) -> list[tuple]:
    """Per command: (label, {"after"[, "before"]: (median, fastest, least CPU, exit)}).
    With a baseline, its runs alternate with this one's, so both meet the
    same load."""
    base = digest_command()
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "DIGEST_CONFIG": "", "DIGEST_LOG_LEVEL": "WARNING"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        subprocess.run([*base, "demo"], env=env, cwd=folder, capture_output=True, check=True)
        env["DIGEST_DATABASE_URL"] = f"sqlite:///{folder}/digest-demo.db"
        # Each installation: (its command, its environment).
        setups = {}
        if baseline:
            setups["before"] = (base, {**env, "PYTHONPATH": baseline})
        elif baseline_command:
            setups["before"] = ([baseline_command], env)
        setups["after"] = (base, env)
        rows = []
        for label, args in COMMANDS:
            words = PREVIEWS[args] if isinstance(args, str | None) else args
            samples: dict[str, list] = {name: [] for name in setups}
            for command, run_env in setups.values():
                # Warms the OS file cache and writes the bytecode caches.
                timed([*command, *words], run_env, folder)
            for _ in range(runs):
                for name, (command, run_env) in setups.items():
                    samples[name].append(timed([*command, *words], run_env, folder))
            rows.append((label, {name: summary(found) for name, found in samples.items()}))
    return rows


def summary(found: list[tuple[float, float, int]]) -> tuple[float, float, float, int]:
    walls = [wall for wall, _, _ in found]
    return statistics.median(walls), min(walls), min(cpu for _, cpu, _ in found), found[-1][2]


def table(rows, runs: int) -> str:
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    names = list(rows[0][1])
    lines = [
        f"`python benchmarks/coldstart.py` ({date.today()}), {runs} runs each"
        + (", alternating with the baseline" if "before" in names else "")
        + f"; Python {platform.python_version()}, {platform.machine()}, shared 2-core VM "
        f"(load average after the runs: {load}); bytecode caches present (a second run). "
        "Seconds: median / fastest wall clock, least CPU (user + system); exit status.",
        "",
        "| command | " + " | ".join(f"{n}: median / fastest / CPU | exit" for n in names) + " |",
        "|---|" + "---:|---:|" * len(names),
    ]
    for label, by_name in rows:
        cells = []
        for name in names:
            median, fastest, cpu, code = by_name[name]
            cells += [f"{median:.2f} / {fastest:.2f} / {cpu:.2f}", str(code)]
        lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write(label: str, body: str) -> None:
    text = RESULTS.read_text(encoding="utf-8")
    block = f"### {label}\n\n{body}\n"
    if SECTION not in text:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{block}"
    else:
        head, tail = text.split(SECTION, 1)
        following = re.search(r"\n## ", tail)
        section, rest = (
            (tail[: following.start()], tail[following.start() :]) if following else (tail, "")
        )
        pattern = re.compile(rf"### {re.escape(label)}\n.*?(?=\n### |\Z)", re.S)
        if pattern.search(section):
            section = pattern.sub(block.rstrip("\n") + "\n", section)
        else:
            section = section.rstrip("\n") + "\n\n" + block
        text = head + SECTION + section.rstrip("\n") + "\n" + rest
    RESULTS.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--write", metavar="LABEL", help="record under this heading")
    before = parser.add_mutually_exclusive_group()
    before.add_argument(
        "--baseline", metavar="CHECKOUT", help="also time this checkout, alternating runs"
    )
    before.add_argument(
        "--baseline-command",
        metavar="PATH",
        help="also time this digest command (another installation), alternating runs",
    )
    args = parser.parse_args()
    body = table(measure(args.runs, args.baseline, args.baseline_command), args.runs)
    print(body)
    if args.write:
        write(args.write, body)


if __name__ == "__main__":
    main()
