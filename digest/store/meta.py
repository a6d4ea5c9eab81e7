"""Small key/value settings kept in the database (the generated secret key, the
last send run's outcome)."""

from __future__ import annotations

import secrets

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from digest.db.schema import meta

SECRET_KEY = "secret_key"


def get_value(conn: Connection, key: str) -> str | None:
    return conn.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()


def ensure_secret_key(engine) -> str:
    """The stored secret key, generated on first use. Safe when several processes
    race: the loser of the insert reads the winner's key."""
    with engine.begin() as conn:
        value = get_value(conn, SECRET_KEY)
        if value:
            return value
    try:
        with engine.begin() as conn:
            conn.execute(meta.insert().values(key=SECRET_KEY, value=secrets.token_urlsafe(48)))
    except IntegrityError:
        pass
    with engine.begin() as conn:
        return get_value(conn, SECRET_KEY)


def set_value(conn: Connection, key: str, value: str) -> None:
    """Store `value` under `key`, replacing what was there (caller's transaction).
    Two writers racing to create the key: one gets IntegrityError; retrying
    then updates."""
    updated = conn.execute(meta.update().where(meta.c.key == key).values(value=value)).rowcount
    if not updated:
        conn.execute(meta.insert().values(key=key, value=value))
