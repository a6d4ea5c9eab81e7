"""Wall time per stage of the production send path, without changing it.

`StageTimer.install()` wraps named functions of the send path so each call's
wall time and CPU time (this process's; on a shared machine the fairer
figure) are added to a stage (time spent in a wrapped callee counts for the
callee's stage only); `uninstall()` puts the originals back. Names that a
module no longer has are skipped and listed in `missing`, so the benchmark
still runs while the send path is being reorganised (the time shows up as
"other").
"""

from __future__ import annotations

import functools
import importlib
import time
from collections import Counter

# (stage, module, attribute); "Class.method" wraps a method on the class.
POINTS = (
    ("load", "digest.claims", "lock_active_batch"),
    ("load", "digest.editions", "load_pool"),
    ("load", "digest.claims", "edition_claims.read_histories"),
    ("load", "digest.claims", "edition_claims.changed_histories"),
    ("plan/select", "digest.claims", "due_from"),
    ("plan/select", "digest.claims", "floor_from"),
    ("plan/select", "digest.claims", "_without_received"),
    ("plan/select", "digest.editions", "Planner.plan_shared"),
    ("plan/select", "digest.selection", "CandidatePool.candidates"),
    ("plan/select", "digest.editions", "compose_digest"),
    ("rank", "digest.editions", "rank_topic"),
    ("rank", "digest.editions", "RankingIndex"),
    ("render", "digest.render", "CompileCache.get"),
    ("render", "digest.delivery", "personalize"),
    ("claim", "digest.claims", "edition_claims.claim_editions"),
    ("deliver: mailer", "digest.delivery", "send_call"),
    ("deliver: record", "digest.delivery", "record_outcomes"),
    # A call's outcomes are recorded in the transaction that hands over the next.
    ("deliver: record", "digest.delivery", "_record_and_hand_over"),
    ("deliver: record", "digest.store.editions", "set_status"),
)
STAGES = (
    "load",
    "plan/select",
    "rank",
    "render",
    "claim",
    "deliver: mailer",
    "deliver: record",
)


class StageTimer:
    def __init__(self, points=POINTS) -> None:
        self.points = points
        self.seconds: Counter = Counter()
        self.cpu: Counter = Counter()
        self.calls: Counter = Counter()
        self.missing: list[str] = []
        # [wall start, cpu start, wall and cpu time in wrapped callees]
        self._stack: list[list[float]] = []
        self._saved: list[tuple[object, str, object]] = []

    def install(self) -> StageTimer:
        for stage, module_name, attribute in self.points:
            owner = importlib.import_module(module_name)
            *path, name = attribute.split(".")
            for part in path:
                owner = getattr(owner, part, None)
            original = getattr(owner, name, None) if owner is not None else None
            if original is None:
                self.missing.append(f"{module_name}.{attribute}")
                continue
            self._saved.append((owner, name, original))
            setattr(owner, name, self._wrap(stage, original))
        return self

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()

    def _wrap(self, stage: str, original):
        @functools.wraps(original)
        def timed(*args, **kwargs):
            frame = [time.perf_counter(), time.process_time(), 0.0, 0.0]
            self._stack.append(frame)
            try:
                return original(*args, **kwargs)
            finally:
                wall = time.perf_counter() - frame[0]
                cpu = time.process_time() - frame[1]
                self._stack.pop()
                self.seconds[stage] += wall - frame[2]
                self.cpu[stage] += cpu - frame[3]
                self.calls[stage] += 1
                if self._stack:
                    self._stack[-1][2] += wall
                    self._stack[-1][3] += cpu

        return timed
