"""The arXiv category taxonomy (`arxiv_categories.txt`): which category ids
exist, and how each is spelled."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def _canonical() -> dict[str, str]:
    """Lower-cased id → the id as arXiv spells it (`cs.cv` → `cs.CV`)."""
    text = resources.files("digest").joinpath("arxiv_categories.txt").read_text(encoding="utf-8")
    ids = [line.strip() for line in text.splitlines()]
    return {i.lower(): i for i in ids if i and not i.startswith("#")}


def canonical_category(text: str) -> str | None:
    """`text` spelled as arXiv spells the category (case forgiven), or None
    when arXiv has no such category."""
    return _canonical().get(text.strip().lower())


def all_categories() -> list[str]:
    """Every category id, in file order (archive by archive)."""
    return list(_canonical().values())
