"""edition versions count a status change only across the counted states (SQLite only)

Revision 0009's update trigger counted every update of a column planning
reads, `status` included: a send's own steps (pending -> sending -> sent)
then each wrote a count under SQLite's write lock, doubling a hand-over's
statements. Planning reads a status only as one of the states whose papers
count as received or not (`COUNTED_STATES`), so this revision replaces that
trigger with one that counts an update only when a column planning reads
changes, the status only when it enters or leaves those states. The counts
kept so far stay as they are (a count only has to move when something
planning reads changed; extra moves cost a replan, never a wrong one).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NAME = "editions_version_update"
_BUMP = (
    "INSERT INTO edition_versions (subscriber_id, version) {source} "
    "ON CONFLICT (subscriber_id) DO UPDATE SET version = version + 1;"
)
_OLD = _BUMP.format(source="VALUES (OLD.subscriber_id, 1)")
# An update that moves a row to another subscriber changes both (none does).
_MOVED = _BUMP.format(
    source="SELECT NEW.subscriber_id, 1 WHERE NEW.subscriber_id IS NOT OLD.subscriber_id"
)
# What planning reads of an edition (digest.store.edition_claims._COLUMNS):
# its columns, except that of the status only whether it is one of the
# states whose papers count as received (COUNTED_STATES, frozen here: a
# change to that list comes with a revision that changes this trigger;
# tests/test_edition_histories.py checks every pair of states). So a send's
# own steps (pending -> sending -> sent), and updates of the other columns
# (sent_at, message_id, delivery, ...), leave the count alone: they are most
# of the updates, and each count costs a write under SQLite's lock.
_COUNTED = "('pending', 'queued', 'sending', 'sent', 'unknown', 'empty')"
_CHANGED = " OR ".join(
    [
        *(
            f"NEW.{column} IS NOT OLD.{column}"
            for column in ("subscriber_id", "period", "claimed_at", "reached_after", "digest_id")
        ),
        f"(NEW.status IN {_COUNTED}) IS NOT (OLD.status IN {_COUNTED})",
    ]
)
NARROW = f"AFTER UPDATE ON editions WHEN {_CHANGED} BEGIN {_OLD} {_MOVED} END"
# Revision 0009's trigger, for the downgrade.
_READ = "subscriber_id, period, status, claimed_at, reached_after, digest_id"
WIDE = f"AFTER UPDATE OF {_READ} ON editions BEGIN {_OLD} {_MOVED} END"


def _replace(body: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(f"DROP TRIGGER IF EXISTS {NAME}")
    op.execute(f"CREATE TRIGGER {NAME} {body}")


def upgrade() -> None:
    _replace(NARROW)


def downgrade() -> None:
    _replace(WIDE)
