"""editions: the period as a number in the unique key; mailer and count elsewhere

Every subscriber-edition adds one entry to the unique (subscriber, period)
index, and on PostgreSQL that index was the part of an edition's storage that
kept growing in the long run: the period's text made each entry 28 bytes with
its line pointer, at the two-thirds leaf density such an index settles at.
The key now holds the period as a number (YYYYMMDD for a day, YYYYWW for an
ISO week, which cannot meet: `digest.db.schema.PERIOD_NUMBER`): 20 bytes an
entry. Two columns that repeat what is known elsewhere are no longer written:
`mailer` is the run's (a new `runs.mailer`: a run sends through one mailer)
and `paper_count` the digest's (0 for an empty edition); rows written before
keep theirs, and the readers take an edition's own value first. On
PostgreSQL a NULL costs no byte: the row shrinks from 128 to 112 bytes.

SQLite cannot drop a table's UNIQUE constraint nor a NOT NULL in place: the
table is rebuilt (copy, drop, rename) there, and the indexes and the triggers
of revisions 0009 and 0010, which go with the old table, are created again
from their own SQL.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_PERIOD_NUMBER = "CAST(replace(replace(period, '-W', ''), '-', '') AS INTEGER)"
_NEW_KEY = "uq_editions_subscriber_period_number"
_OLD_KEY = "uq_editions_subscriber_period"

# The table as revision 0011 left it on SQLite, without the NOT NULL of
# paper_count and the UNIQUE constraint (which downgrading puts back:
# `not_null`, `unique`).
_SQLITE_TABLE = """CREATE TABLE editions_0012 (
    id INTEGER NOT NULL,
    subscriber_id INTEGER NOT NULL,
    period VARCHAR(16) NOT NULL,
    status VARCHAR(16) NOT NULL,
    claimed_at DATETIME NOT NULL,
    sent_at DATETIME,
    paper_count INTEGER{not_null},
    message_id VARCHAR(256),
    mailer VARCHAR(16),
    error TEXT,
    run_id INTEGER,
    reached_after DATETIME,
    delivery VARCHAR(16),
    digest_id INTEGER,
    CONSTRAINT pk_editions PRIMARY KEY (id),{unique}
    CONSTRAINT fk_editions_subscriber_id_subscribers FOREIGN KEY(subscriber_id)
        REFERENCES subscribers (id) ON DELETE CASCADE
)"""
_COLUMNS = (
    "id, subscriber_id, period, status, claimed_at, sent_at, paper_count, message_id,"
    " mailer, error, run_id, reached_after, delivery, digest_id"
)
# What downgrading writes back into the columns 0012 stops writing.
_OWN_COUNT = (
    "coalesce(paper_count, (SELECT d.paper_count FROM digests d WHERE d.id = digest_id), 0)"
)
_OWN_MAILER = "coalesce(mailer, (SELECT r.mailer FROM runs r WHERE r.id = run_id))"


def upgrade() -> None:
    op.add_column("runs", sa.Column("mailer", sa.String(length=16), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(not_null="", unique="", select=_COLUMNS)
    else:
        op.alter_column("editions", "paper_count", existing_type=sa.Integer(), nullable=True)
        op.drop_constraint(_OLD_KEY, "editions", type_="unique")
    op.execute(f"CREATE UNIQUE INDEX {_NEW_KEY} ON editions (subscriber_id, {_PERIOD_NUMBER})")


def downgrade() -> None:
    op.execute(f"DROP INDEX {_NEW_KEY}")
    if op.get_bind().dialect.name == "sqlite":
        select = _COLUMNS.replace("paper_count", _OWN_COUNT).replace(" mailer", f" {_OWN_MAILER}")
        unique = f"\n    CONSTRAINT {_OLD_KEY} UNIQUE (subscriber_id, period),"
        _rebuild_sqlite(not_null=" NOT NULL", unique=unique, select=select)
    else:
        op.execute(
            f"UPDATE editions SET paper_count = {_OWN_COUNT}, mailer = {_OWN_MAILER}"
            " WHERE paper_count IS NULL OR mailer IS NULL"
        )
        op.alter_column("editions", "paper_count", existing_type=sa.Integer(), nullable=False)
        op.create_unique_constraint(_OLD_KEY, "editions", ["subscriber_id", "period"])
    op.drop_column("runs", "mailer")


def _rebuild_sqlite(*, not_null: str, unique: str, select: str) -> None:
    """Replace SQLite's editions table with `_SQLITE_TABLE` (filled by
    `select`, the old table's values in `_COLUMNS` order), keeping its other
    indexes and its triggers (dropped with the old table: created again
    from the SQL they were created with). Foreign keys are off while
    migrating (env.py): dropping the old table deletes nothing elsewhere."""
    bind = op.get_bind()
    kept = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'editions'"
        " AND type IN ('index', 'trigger') AND sql IS NOT NULL AND name NOT IN (?, ?)"
        " ORDER BY type, name",
        (_NEW_KEY, _OLD_KEY),
    ).scalars()
    kept = list(kept)
    op.execute(_SQLITE_TABLE.format(not_null=not_null, unique=unique))
    op.execute(f"INSERT INTO editions_0012 ({_COLUMNS}) SELECT {select} FROM editions")
    op.execute("DROP TABLE editions")
    op.execute("ALTER TABLE editions_0012 RENAME TO editions")
    for sql in kept:
        op.execute(sql)
