"""The delivery part of `digest status`, as text."""

from __future__ import annotations

from collections import Counter

from digest.cli.common import console

SHOWN = 20  # problem lines per state; `digest status --json` lists every one


def print_delivery(delivery: dict) -> None:
    last = delivery["last_send"]
    if last is None:
        console.print("Last send run: never", markup=False)
    else:
        ended = f"ended {last['ended_at']} ({last['outcome']})" if last["ended_at"] else "running"
        console.print(
            f"Last send run: {last['id']} on {last['host']} (pid {last['pid']}), "
            f"started {last['started_at']}, {ended}; last message sent at "
            f"{delivery['last_sent_at'] or 'never'}",
            markup=False,
        )
    if delivery["periods"]:
        console.print("Editions by period (claimed in the last 7 days):", markup=False)
    for period, states in delivery["periods"].items():
        console.print(f"  {period}: " + _counts(states), markup=False)
    for run in delivery["open_runs"]:
        console.print(
            f"Open run {run['id']} on {run['host']} (pid {run['pid']}) since {run['started_at']}"
            " (sending now, or died and recovered by the next send)",
            markup=False,
        )
    if delivery["problems"]:
        console.print("Needs attention (latest first):", markup=False)
    shown: Counter = Counter()
    for problem in delivery["problems"]:
        shown[problem["status"]] += 1
        if shown[problem["status"]] > SHOWN:
            continue
        console.print(
            f"  edition {problem['id']} subscriber {problem['subscriber_id']} "
            f"{problem['period']}: {problem['status']} via {problem['mailer'] or '-'}: "
            f"{problem['error']}",
            markup=False,
        )
    for state, count in sorted(shown.items()):
        if count > SHOWN:
            console.print(
                f"  ... and {count - SHOWN} more {state} (`digest status --json` lists them all)",
                markup=False,
            )
    for state, count in sorted(delivery["problem_counts"].items()):
        console.print(f"{count} {state}: {delivery['actions'][state]}", markup=False)


def _counts(states: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(states.items()))
