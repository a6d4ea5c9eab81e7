"""paper thumbnails

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: existing papers simply have no thumbnail until the
    # next Hugging Face fetch that lists them supplies one.
    op.add_column("papers", sa.Column("thumbnail_url", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("papers") as batch:
        batch.drop_column("thumbnail_url")
