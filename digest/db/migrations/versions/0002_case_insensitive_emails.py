"""one subscriber per address, ignoring case

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Addresses are stored lower-cased and a unique index on lower(email) makes the
database refuse a second subscriber whose address differs only by case (two
sign-ups racing each other included). Existing rows are lower-cased first; rows
that then share an address are merged into one subscriber (see `_merge`).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The order in which a status wins a merge: someone who left or bounced under
# any spelling stays out; otherwise an active subscription beats a pending one.
_STATUS_RANK = {"suppressed": 0, "unsubscribed": 1, "active": 2, "pending": 3}


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, email, status FROM subscribers ORDER BY id")).all()
    groups: dict[str, list] = {}
    for row in rows:
        groups.setdefault(row.email.lower(), []).append(row)
    for address, group in groups.items():
        if len(group) > 1:
            _merge(conn, address, group)
    conn.execute(sa.text("UPDATE subscribers SET email = lower(email) WHERE email <> lower(email)"))
    op.create_index(
        "uq_subscribers_email_lower", "subscribers", [sa.text("lower(email)")], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_subscribers_email_lower", table_name="subscribers")


def _merge(conn, address: str, group: list) -> None:
    """Keep one subscriber of the rows that share `address`: the one whose
    status wins (`_STATUS_RANK`), the oldest among equals, with its own
    preferences. The others' editions and sent log move to it, so nothing
    they were sent is ever sent again; then they are deleted."""
    keep = min(group, key=lambda row: (_STATUS_RANK.get(row.status, 9), row.id))
    for other in group:
        if other.id == keep.id:
            continue
        params = {"keep": keep.id, "other": other.id}
        # An edition whose period the kept subscriber also has: its sent-log
        # rows join the kept subscriber's edition of that period.
        conn.execute(
            sa.text(
                "UPDATE sent_log SET edition_id = (SELECT k.id FROM editions k"
                " JOIN editions o ON o.period = k.period"
                " WHERE k.subscriber_id = :keep AND o.id = sent_log.edition_id)"
                " WHERE subscriber_id = :other AND edition_id IN (SELECT o.id FROM editions o"
                " JOIN editions k ON k.period = o.period AND k.subscriber_id = :keep"
                " WHERE o.subscriber_id = :other)"
            ),
            params,
        )
        conn.execute(
            sa.text(
                "UPDATE editions SET subscriber_id = :keep WHERE subscriber_id = :other"
                " AND period NOT IN (SELECT period FROM editions WHERE subscriber_id = :keep)"
            ),
            params,
        )
        conn.execute(
            sa.text(
                "UPDATE sent_log SET subscriber_id = :keep WHERE subscriber_id = :other"
                " AND paper_key NOT IN (SELECT paper_key FROM sent_log WHERE subscriber_id = :keep)"
            ),
            params,
        )
        # What is left (editions of a period both had, sent-log rows both had)
        # duplicates what the kept subscriber holds. Deleted explicitly: on
        # SQLite foreign keys (and their cascades) are off during migrations.
        conn.execute(sa.text("DELETE FROM sent_log WHERE subscriber_id = :other"), params)
        conn.execute(sa.text("DELETE FROM editions WHERE subscriber_id = :other"), params)
        conn.execute(sa.text("DELETE FROM subscribers WHERE id = :other"), params)
