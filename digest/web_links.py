"""URLs of the web app's pages that emails link to (all on `DIGEST_BASE_URL`)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from digest.tokens import make_edition_token

# A digest cut by the size budget links to its remaining papers; the cap keeps
# the link short (the page says when there were more).
MAX_LINKED_PAPERS = 60


def view_url(base_url: str, secret: str, subscriber_id: int, email: str, period: str) -> str:
    """The "view in browser" page of one subscriber's edition."""
    return f"{base_url}/editions/{make_edition_token(secret, subscriber_id, email, period)}"


def papers_url(base_url: str, keys: Sequence[str]) -> str:
    """A page listing exactly these papers (keys are public: no token needed)."""
    return f"{base_url}/papers?" + urlencode([("k", key) for key in keys[:MAX_LINKED_PAPERS]])
