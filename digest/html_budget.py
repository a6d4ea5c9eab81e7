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
    and `compile_mjml` turns that into (MJML, HTML); see `most_that_fit`."""
    results: dict[int, tuple[str, str]] = {}

    def size(k: int) -> int:
        results[k] = compile_mjml(render(k))
        return budget_size(results[k][1])

    shown = most_that_fit(size, total, budget)
    mjml, html = results[shown]
    return Fit(shown, mjml, html, len(results))


def most_that_fit(size: Callable[[int], int], total: int, budget: int) -> int:
    """The most papers (of `total`) for which `size(k)` (the `budget_size` of
    the HTML showing the first k) is within `budget`; 0 when not even the frame
    fits (it is sent anyway). `size` has been called with the answer. Tries all
    papers first (one call in the common case); else interpolates on the
    measured sizes, which grow nearly linearly with the paper count, and
    bisects if that stalls."""
    sizes: dict[int, int] = {}

    def fits(k: int) -> bool:
        sizes[k] = size(k)
        return sizes[k] <= budget

    if fits(total):
        return total
    if not fits(0):
        return 0
    lo, hi, rounds = 0, total, 0
    while hi - lo > 1:
        rounds += 1
        if rounds <= 3:
            span = max(sizes[hi] - sizes[lo], 1)
            guess = lo + (budget - sizes[lo]) * (hi - lo) // span
        else:
            guess = (lo + hi) // 2
        guess = min(max(guess, lo + 1), hi - 1)
        if fits(guess):
            lo = guess
        else:
            hi = guess
    return lo
