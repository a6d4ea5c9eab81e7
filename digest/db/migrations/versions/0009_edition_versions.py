"""edition versions (SQLite only): a per-subscriber count of edition changes

A send shared by processes on SQLite plans a batch in a transaction that only
reads and claims it in the next, under the database's one write lock; the
claim must then know whose editions another run changed in between (planning
reads the subscribers' editions). Reading those editions again under the lock
was half of each claim's hold. Triggers now count every change to a
subscriber's editions (insert, delete, or an update of a column planning
reads) in `edition_versions`, one small row per subscriber: the claim reads a
batch's counts instead of its editions (`digest.store.edition_claims`).

Every writer keeps the counts, whatever code it runs, because the database
does. A future revision that rebuilds `editions` the SQLite way (batch mode:
copy, drop, rename) drops these triggers with the old table and must create
them again (tests/test_edition_histories.py checks them at head).

PostgreSQL locks a batch's subscriber rows for its claim instead: a no-op
there. The table stays outside `digest.db.schema.metadata` (`ours`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BUMP = (
    "INSERT INTO edition_versions (subscriber_id, version) {source} "
    "ON CONFLICT (subscriber_id) DO UPDATE SET version = version + 1;"
)
_OLD = _BUMP.format(source="VALUES (OLD.subscriber_id, 1)")
_NEW = _BUMP.format(source="VALUES (NEW.subscriber_id, 1)")
# An update that moves a row to another subscriber changes both (none does).
_MOVED = _BUMP.format(
    source="SELECT NEW.subscriber_id, 1 WHERE NEW.subscriber_id IS NOT OLD.subscriber_id"
)
# The columns planning reads (digest.store.edition_claims._COLUMNS): updates of
# the others (sent_at, message_id, delivery, ...) leave the count alone.
_READ = "subscriber_id, period, status, claimed_at, reached_after, digest_id"

TRIGGERS = {
    "editions_version_insert": f"AFTER INSERT ON editions BEGIN {_NEW} END",
    "editions_version_update": f"AFTER UPDATE OF {_READ} ON editions BEGIN {_OLD} {_MOVED} END",
    "editions_version_delete": f"AFTER DELETE ON editions BEGIN {_OLD} END",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE TABLE edition_versions ("
        "subscriber_id INTEGER PRIMARY KEY, version INTEGER NOT NULL)"
    )
    for name, body in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS edition_versions")
