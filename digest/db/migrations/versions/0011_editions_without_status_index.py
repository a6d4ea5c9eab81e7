"""editions: no index on the columns a send's steps change

The open-states index (`status` where unsettled, revision 0007) made every
step of a send (pending -> sending -> sent) a non-HOT update on PostgreSQL:
each wrote new entries into every index of the table, cost the server CPU,
and, inserted next to each subscriber's other entries in the
(subscriber, period) index, split its leaves day after day (four days in a
row measured 350-480 bytes of growth an edition, against about 150 for
the rows). This revision drops that index. A run finds its own claims by a
new index on `run_id` (PostgreSQL deduplicates its entries: a few bytes an
edition); `digest status` and resending find failed and unknown editions by
a partial index over editions that carry an error (every such edition gets
one here: those that lacked it get an empty one), keyed by claim time. On
PostgreSQL the table keeps a tenth of each page free (fillfactor 90, for
pages written from now on) so that a step's new row version fits beside
the old one: a HOT update, which writes no index entry.

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
    op.create_index("ix_editions_run", "editions", ["run_id"])
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
