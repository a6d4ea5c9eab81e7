"""One day's send for `benchmarks/daily_run.py`, timed per stage: the
production `run_send` in this process, or in several processes at once over
the same database (`--processes N`), as that many `digest send`s would run.
"""

from __future__ import annotations

import cProfile
import hashlib
import logging
import multiprocessing
import multiprocessing.util
import os
import pickle
import resource
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.daily_mail import make_mailer
from benchmarks.stages import StageTimer
from digest import render
from digest.cli.common import configure_logging
from digest.db.engine import open_engine
from digest.render import SiteInfo
from digest.send import SendOptions, run_send

SITE = SiteInfo(
    base_url="https://papers.example.org",
    sender="Trending Papers <digest@papers.example.org>",
    postal_address="Example Lab, 1 Research Way, Cambridge",
)
SECRET = "benchmark-secret"


class Sampler:
    """Keeps every k-th digest the send path compiles, for the naive baseline,
    and counts the distinct ones (by a digest of the rendering key that is
    the same in every process, taken when the cache compiles one: every
    distinct digest is compiled at least once)."""

    def __init__(self, every: int) -> None:
        self.every, self.seen, self.sample, self.keys = every, 0, [], set()
        self._original = None

    def install(self) -> None:
        sampler = self
        original = self._original = render.CompileCache.get

        def get(cache, digest):
            misses = cache.misses
            compiled = original(cache, digest)
            sampler.seen += 1
            if cache.misses != misses:
                # Compiled now: a distinct digest (or one compiled again).
                key = repr(digest.rendering_key()).encode()
                sampler.keys.add(hashlib.blake2b(key, digest_size=12).digest())
            if sampler.seen % sampler.every == 0:
                sampler.sample.append(digest)
            return compiled

        render.CompileCache.get = get

    def uninstall(self) -> None:
        render.CompileCache.get = self._original


def log_as_digest_send(level: str, path: str) -> None:
    """This process's logging as `digest send` sets it up (`configure_logging`:
    text lines, the level of DIGEST_LOG_LEVEL), its lines appended to `path`
    instead of stderr. Called once a process (the command line's, and each
    spawned `--processes` child's)."""
    configure_logging(level, "text")
    # Open for the process's life, as stderr would be.
    logging.getLogger().handlers[0].setStream(open(path, "a", encoding="utf-8"))  # noqa: SIM115


def send_once(args, url: str | None, profile: bool = False) -> dict:
    """One `digest send` (`run_send`, every subscriber due) in this process,
    timed per stage; with `--send-processes N`, that send shared by N forked
    processes (`digest send --processes N`), whose stage times, samples, CPU
    and peak RSS are gathered in."""
    engine = open_engine(args.database_url)
    mailer = make_mailer(args.mailer, args.mime, SITE, url, args.now)
    sampler = Sampler(max(args.subscribers * 2 // args.baseline_sample, 1))
    timer = StageTimer().install()
    sampler.install()  # outside the timer: its bookkeeping is not the send path's
    forked = _Forked(timer, sampler) if args.send_processes > 1 else None
    # Wall time: a process_time timer is a system call per event and makes the
    # profiled run an order of magnitude slower.
    profiler = cProfile.Profile() if profile else None
    children_before = _children_cpu()
    started, cpu_started = time.perf_counter(), time.process_time()
    options = SendOptions(
        now=args.now, force_hour=True, batch_size=args.batch_size, processes=args.send_processes
    )
    try:
        if profiler:
            profiler.enable()
        report = run_send(engine, mailer, options, site=SITE, secret=SECRET)
        if profiler:
            profiler.disable()
    finally:
        sampler.uninstall()
        timer.uninstall()
        mailer.close()
        engine.dispose()
    result = {
        "total": time.perf_counter() - started,
        "cpu": time.process_time() - cpu_started + _children_cpu() - children_before,
        "stages": timer.seconds,
        "stage_cpu": timer.cpu,
        "missing": timer.missing,
        "peak": max(
            resource.getrusage(who).ru_maxrss * 1024
            for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        ),
        "counts": report.counts,
        "keys": sampler.keys,
        "sample": sampler.sample,
        "requests": getattr(mailer, "requests", None),
        "profile": profiler,
    }
    if forked is not None:
        forked.gather(result)
    return result


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


class _Forked:
    """Each process the send forks (through multiprocessing) starts its stage
    times and samples afresh and leaves them in a file when it ends
    (multiprocessing runs a child's finalizers at its exit); `gather` adds
    them to the parent's."""

    def __init__(self, timer: StageTimer, sampler: Sampler) -> None:
        self.timer, self.sampler = timer, sampler
        self.folder = Path(tempfile.mkdtemp(prefix="daily-send-"))
        multiprocessing.util.register_after_fork(self, _Forked._started)

    def _started(self) -> None:
        if self.folder is None:
            return  # a later fork, after this send
        self.timer.seconds, self.timer.cpu = Counter(), Counter()
        self.sampler.seen, self.sampler.sample, self.sampler.keys = 0, [], set()
        multiprocessing.util.Finalize(None, self._leave, exitpriority=100)

    def _leave(self) -> None:
        timer, sampler = self.timer, self.sampler
        mine = (timer.seconds, timer.cpu, sampler.keys, sampler.sample)
        (self.folder / f"{os.getpid()}.pickle").write_bytes(pickle.dumps(mine))

    def gather(self, result: dict) -> None:
        for path in sorted(self.folder.glob("*.pickle")):
            seconds, cpu, keys, sample = pickle.loads(path.read_bytes())
            result["stages"] += seconds
            result["stage_cpu"] += cpu
            result["keys"] |= keys
            result["sample"] += sample
        shutil.rmtree(self.folder)
        self.folder = None


def _child(args, url: str | None, results) -> None:
    if args.log_file:  # a fresh interpreter: as the command line set the parent up
        log_as_digest_send(args.log_level, args.log_file)
    results.put(send_once(args, url))


def send_in_processes(args, url: str | None) -> dict:
    """`args.processes` sends at once over the same database, each in a fresh
    interpreter (as `digest send` starts); wall time from the first start to
    the last exit, stages and counts summed, each process's own figures kept."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    started = time.perf_counter()
    children = [
        context.Process(target=_child, args=(args, url, results)) for _ in range(args.processes)
    ]
    for child in children:
        child.start()
    each = [results.get() for _ in children]
    for child in children:
        child.join()
    if any(child.exitcode for child in children):
        raise RuntimeError("a sending process failed")
    merged: dict = {
        "total": time.perf_counter() - started,
        "cpu": sum(r["cpu"] for r in each),
        "stages": sum((Counter(r["stages"]) for r in each), Counter()),
        "stage_cpu": sum((Counter(r["stage_cpu"]) for r in each), Counter()),
        "missing": each[0]["missing"],
        "peak": max(r["peak"] for r in each),
        "counts": sum((r["counts"] for r in each), Counter()),
        "keys": set().union(*(r["keys"] for r in each)),
        "sample": [d for r in each for d in r["sample"]],
        "requests": None,
        "profile": None,
        "processes": [
            {k: r[k] for k in ("total", "cpu", "peak", "counts", "stages", "stage_cpu")}
            for r in each
        ],
    }
    return merged
