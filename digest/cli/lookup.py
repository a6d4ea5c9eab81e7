"""Finding a subscriber from an address typed on the command line."""

from __future__ import annotations

from sqlalchemy import Connection

from digest.store.subscribers import Subscriber, get_subscriber


def find_subscriber(conn: Connection, typed: str) -> tuple[Subscriber | None, str]:
    """(the subscriber or None, the address as normalized). The address as
    typed is tried first: a stored address is valid, so an exact (case-blind)
    match needs no validation, and the validation library stays unloaded on
    the common path (cold start). Otherwise the normalized form is tried;
    an invalid address raises `InputError`."""
    found = get_subscriber(conn, typed.strip())
    if found is not None:
        return found, found.email
    from digest.subscriber_input import normalize_email

    address = normalize_email(typed)
    return get_subscriber(conn, address), address
