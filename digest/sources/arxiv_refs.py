"""Recognising an arXiv paper named by another source: an arXiv URL (abs, pdf,
html; any version), its arXiv DOI (`10.48550/arXiv.<id>`, as text, `doi:` or a
doi.org link), its Hugging Face paper page (`huggingface.co/papers/<id>`,
`hf.co/papers/<id>`) or an arXiv OAI identifier. A generic feed item that names
a paper one of these ways keys on its arXiv id, so it merges with the arXiv
record and never reaches a subscriber twice."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from digest.papers import parse_arxiv_id

# The DataCite DOIs arXiv registers for every paper; DOIs ignore case.
_ARXIV_DOI = re.compile(r"10\.48550/arxiv\.(\S+)", re.IGNORECASE)
_DOI_HOSTS = ("doi.org", "dx.doi.org")
_HF_HOSTS = ("huggingface.co", "hf.co")


def arxiv_ref(text: str | None) -> tuple[str, int | None] | None:
    """(base id, version or None) of the arXiv paper `text` names, else None.
    Only whole references count: a link elsewhere that happens to contain
    digits like an id (`example.org/papers/2411.01234`) is not one."""
    if not isinstance(text, str) or not text.strip():
        return None
    text = unquote(text.strip())
    if text.lower().startswith("oai:arxiv.org:"):
        return parse_arxiv_id(text)
    doi = _ARXIV_DOI.search(text)
    if doi and _is_doi(text, doi.start()):
        return _id_in(doi.group(1))
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower().removeprefix("www.")
    except ValueError:
        return None
    path = parts.path
    if host == "arxiv.org" or host.endswith(".arxiv.org"):
        for prefix in ("/abs/", "/pdf/", "/html/"):
            if path.startswith(prefix):
                return _id_in(path[len(prefix) :].removesuffix(".pdf"))
        return None
    if host in _HF_HOSTS and path.startswith("/papers/"):
        return _id_in(path[len("/papers/") :])
    return None


def _is_doi(text: str, start: int) -> bool:
    """The DOI is the whole value: bare, after `doi:`, or the path of a doi.org link."""
    before = text[:start].lower()
    if before in ("", "doi:", "doi: ", "info:doi/"):
        return True
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    host = (parts.hostname or "").lower().removeprefix("www.")
    return host in _DOI_HOSTS and parts.path.lstrip("/").lower().startswith("10.48550/")


def _id_in(rest: str) -> tuple[str, int | None] | None:
    """The id at the start of `rest` (`2411.01234v2`, `2411.01234V2`, `hep-th/9901001`)."""
    rest = rest.strip().rstrip("/.,;)")
    found = parse_arxiv_id(rest.lower()) if re.match(r"\d{4}\.\d", rest) else parse_arxiv_id(rest)
    if found is None:
        return None
    # The id must be what `rest` starts with, not digits further along.
    head = rest.lower() if re.match(r"\d{4}\.\d", rest) else rest
    return found if head.startswith(found[0]) else None
