"""Keeping a digest's HTML under Gmail's clipping size.

Gmail clips HTML over about 102 KB behind a "[Message clipped]" link, which
hides the footer with the unsubscribe link. A digest that would be larger shows
fewer papers (the first ones, in section order) and a line saying how many more
there are; `fit_html` finds the most papers that fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from digest.render_view import TOKEN_PATTERN

# Room kept per personal token in the HTML for the value that replaces it (a URL
# with a signed token, an escaped name or address).
TOKEN_RESERVE = 512
S = TypeVar("S")


def budget_size(html: str) -> int:
    """Bytes the HTML will have once personalized, at most."""
    return len(html.encode()) + TOKEN_RESERVE * len(TOKEN_PATTERN.findall(html))


@dataclass(frozen=True)
class Fit:
    shown: int  # papers shown
    mjml: str
    html: str
    compiles: int  # MJML compilations it took


def fit_html(
    render: Callable[[int], S],
    total: int,
    budget: int,
    compile_mjml: Callable[[S], tuple[str, str]],
) -> Fit:
    """The most papers (of `total`) whose HTML fits `budget`. `render(k)` gives
    what shows the first k papers (the MJML, or a context to assemble it from)
    and `compile_mjml` turns that into (MJML, HTML). Tries all papers first (one
    compile in the common case); else interpolates on the measured sizes, which
    grow nearly linearly with the paper count, and bisects if that stalls."""
    results: dict[int, tuple[str, str, int]] = {}

    def fits(k: int) -> bool:
        mjml, html = compile_mjml(render(k))
        results[k] = (mjml, html, budget_size(html))
        return results[k][2] <= budget

    if fits(total):
        return _fit(total, results)
    if not fits(0):
        return _fit(0, results)  # not even the frame fits; send it anyway
    lo, hi, rounds = 0, total, 0
    while hi - lo > 1:
        rounds += 1
        if rounds <= 3:
            span = max(results[hi][2] - results[lo][2], 1)
            guess = lo + (budget - results[lo][2]) * (hi - lo) // span
        else:
            guess = (lo + hi) // 2
        guess = min(max(guess, lo + 1), hi - 1)
        if fits(guess):
            lo = guess
        else:
            hi = guess
    return _fit(lo, results)


def _fit(k: int, results: dict[int, tuple[str, str, int]]) -> Fit:
    mjml, html, _ = results[k]
    return Fit(k, mjml, html, len(results))
