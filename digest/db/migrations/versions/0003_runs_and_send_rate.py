"""Runs that own claims, the edition's candidate floor, the shared send rate.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index("ix_runs_ended_at", "runs", ["ended_at"], unique=False)
    op.create_table(
        "send_rate",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_send_rate")),
    )
    # Plain nullable columns: SQLite adds them in place, existing rows keep NULL
    # (claims from before runs are recovered as orphans by the next run).
    op.add_column("editions", sa.Column("run_id", sa.Integer(), nullable=True))
    op.add_column("editions", sa.Column("reached_after", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("editions", schema=None) as batch_op:
        batch_op.drop_column("reached_after")
        batch_op.drop_column("run_id")
    op.drop_table("send_rate")
    op.drop_index("ix_runs_ended_at", table_name="runs")
    op.drop_table("runs")
