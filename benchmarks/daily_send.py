"""One day's send for `benchmarks/daily_run.py`, timed per stage: the
production `run_send` in this process, or in several processes at once over
the same database (`--processes N`), as that many `digest send`s would run.
"""

from __future__ import annotations

import cProfile
import hashlib
import multiprocessing
import resource
import time
from collections import Counter

from benchmarks.daily_data import NOW
from benchmarks.daily_mail import make_mailer
from benchmarks.stages import StageTimer
from digest import render
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


def send_once(args, url: str | None, profile: bool = False) -> dict:
    """One `digest send` (`run_send`, every subscriber due) in this process,
    timed per stage."""
    engine = open_engine(args.database_url)
    mailer = make_mailer(args.mailer, args.mime, SITE, url, NOW)
    sampler = Sampler(max(args.subscribers * 2 // args.baseline_sample, 1))
    timer = StageTimer().install()
    sampler.install()  # outside the timer: its bookkeeping is not the send path's
    # Wall time: a process_time timer is a system call per event and makes the
    # profiled run an order of magnitude slower.
    profiler = cProfile.Profile() if profile else None
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
        sampler.uninstall()
        timer.uninstall()
        mailer.close()
        engine.dispose()
    return {
        "total": time.perf_counter() - started,
        "cpu": time.process_time() - cpu_started,
        "stages": timer.seconds,
        "stage_cpu": timer.cpu,
        "missing": timer.missing,
        "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "counts": report.counts,
        "keys": sampler.keys,
        "sample": sampler.sample,
        "requests": getattr(mailer, "requests", None),
        "profile": profiler,
    }


def _child(args, url: str | None, results) -> None:
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
