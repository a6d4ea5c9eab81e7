"""editions: no index on the columns a send's steps change (PostgreSQL)

The open-states index (`status` where unsettled, revision 0007) made every
step of a send (pending -> sending -> sent) a non-HOT update on PostgreSQL:
each wrote new entries into every index of the table (the primary key grew
33 bytes an edition a day, against 23 without) and cost the server CPU.
This revision drops that index. A run finds its own claims by a new index on
`run_id` (PostgreSQL deduplicates its entries: about 8 bytes an edition; on
SQLite, which updates its indexes at every step anyway, it covers only the
unsettled editions, as the index it replaces did); `digest status` and
resending find failed and unknown editions by a partial index over editions
that carry an error (every such edition gets one here: those that lacked it
get an empty one), keyed by claim time. On PostgreSQL the table keeps a
tenth of each page free (fillfactor 90, for pages written from now on) so
that a step's new row version fits beside the old one: a HOT update, which
writes no index entry.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_OPEN = "status IN ('pending', 'sending', 'unknown', 'queued')"
_PROBLEM = "error IS NOT NULL"


def upgrade() -> None:
    op.execute(
        "UPDATE editions SET error = '' WHERE status IN ('failed', 'unknown') AND error IS NULL"
    )
    op.drop_index("ix_editions_open", table_name="editions")
    # SQLite updates its indexes at every step anyway: there the run index
    # keeps only the unsettled editions, as the index it replaces did.
    op.create_index("ix_editions_run", "editions", ["run_id"], sqlite_where=sa.text(_OPEN))
    op.create_index(
        "ix_editions_problems",
        "editions",
        ["claimed_at"],
        postgresql_where=sa.text(_PROBLEM),
        sqlite_where=sa.text(_PROBLEM),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE editions SET (fillfactor = 90)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE editions RESET (fillfactor)")
    op.drop_index("ix_editions_problems", table_name="editions")
    op.drop_index("ix_editions_run", table_name="editions")
    op.create_index(
        "ix_editions_open",
        "editions",
        ["status"],
        postgresql_where=sa.text(_OPEN),
        sqlite_where=sa.text(_OPEN),
    )
