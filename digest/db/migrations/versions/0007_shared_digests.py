"""shared digests replace the sent log

What an edition showed moves to one `digests` row per distinct (period,
sections), which every edition that showed it points at; the per-paper
`sent_log` and the editions' own `sections`, `rendering_key` and `leased_at`
(a record nothing read) go. "Was this
paper ever sent to this subscriber" is then answered from the digests of the
subscriber's counted editions (digest.history). An edition whose sent-log rows
outlived its sections record (none should) gets a digest made from those rows,
so nothing that was sent becomes sendable again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

import hashlib
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_OPEN = "status IN ('pending', 'sending', 'unknown', 'queued')"
# The states whose papers count as received (digest.store.editions.COUNTED_STATES).
_SENT_LOG_STATES = ("pending", "sending", "sent", "unknown", "empty")
_STEP = 1000  # editions per chunk of the upgrade


def _key(period: str, sections: list) -> str:
    # Frozen copy of digest.shown.record_key at this revision.
    text = json.dumps([period, sections], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def upgrade() -> None:
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False, unique=True),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("paper_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.add_column("editions", sa.Column("digest_id", sa.Integer(), nullable=True))
    _move_records(op.get_bind())
    op.drop_index("ix_sent_log_edition_id", table_name="sent_log")
    op.drop_index("ix_sent_log_sent_at", table_name="sent_log")
    op.drop_table("sent_log")
    op.drop_index("ix_editions_status", table_name="editions")
    with op.batch_alter_table("editions") as batch:
        batch.drop_column("sections")
        batch.drop_column("rendering_key")
        # A record nothing read (recovery goes by run_id): 8 bytes an edition.
        batch.drop_column("leased_at")
    op.create_index(
        "ix_editions_open",
        "editions",
        ["status"],
        postgresql_where=sa.text(_OPEN),
        sqlite_where=sa.text(_OPEN),
    )


# Lightweight tables (no reflection: reflecting editions would reflect the
# subscribers table its key points at, expression index and all).
editions = sa.table(
    "editions",
    sa.column("id", sa.Integer()),
    sa.column("subscriber_id", sa.Integer()),
    sa.column("period", sa.String()),
    sa.column("status", sa.String()),
    sa.column("claimed_at", sa.DateTime()),
    sa.column("sections", sa.JSON()),
    sa.column("digest_id", sa.Integer()),
)
sent_log = sa.table(
    "sent_log",
    sa.column("subscriber_id", sa.Integer()),
    sa.column("paper_key", sa.String()),
    sa.column("edition_id", sa.Integer()),
    sa.column("sent_at", sa.DateTime()),
)
digests = sa.table(
    "digests",
    sa.column("id", sa.Integer()),
    sa.column("key", sa.String()),
    sa.column("period", sa.String()),
    sa.column("sections", sa.JSON()),
    sa.column("paper_count", sa.Integer()),
    sa.column("created_at", sa.DateTime()),
)


def _move_records(conn) -> None:
    """Give every edition its digest, a chunk of editions at a time (memory
    stays bounded on a large database): the chunk's sent-log rows in one
    query, its new digests in one statement, then one UPDATE per digest."""
    now = datetime.now(UTC).replace(tzinfo=None)
    ids: dict[str, int] = {}  # digest key -> id; digests are shared across chunks
    after = 0
    while True:
        query = (
            sa.select(editions.c.id, editions.c.period, editions.c.sections)
            .where(editions.c.id > after)
            .order_by(editions.c.id)
            .limit(_STEP)
        )
        rows = conn.execute(query).all()
        if not rows:
            return
        after = rows[-1][0]
        logged: dict[int, list[str]] = {}
        chunk = sa.select(sent_log.c.edition_id, sent_log.c.paper_key).where(
            sent_log.c.edition_id.in_([row[0] for row in rows])
        )
        for edition_id, key in conn.execute(chunk):
            logged.setdefault(edition_id, []).append(key)
        _move_chunk(conn, rows, logged, ids, now)


def _move_chunk(conn, rows, logged, ids: dict[str, int], now: datetime) -> None:
    members: dict[str, list[int]] = {}
    new: dict[str, dict] = {}
    for edition_id, period, sections in rows:
        sections = _sections(sections, logged.get(edition_id, []))
        if not sections:
            continue
        key = _key(period, sections)
        members.setdefault(key, []).append(edition_id)
        if key not in ids and key not in new:
            count = sum(len(s["entries"]) for s in sections)
            new[key] = {
                "key": key,
                "period": period,
                "sections": sections,
                "paper_count": count,
                "created_at": now,
            }
    if new:
        conn.execute(digests.insert(), list(new.values()))
        found = sa.select(digests.c.key, digests.c.id).where(digests.c.key.in_(list(new)))
        ids.update(dict(conn.execute(found).all()))
    for key, edition_ids in members.items():
        conn.execute(
            editions.update().where(editions.c.id.in_(edition_ids)).values(digest_id=ids[key])
        )


def _sections(sections, logged: list[str]) -> list:
    """The edition's record, plus a section for sent-log papers it does not name."""
    sections = [s for s in (sections or []) if s.get("entries")]
    named = {entry[0] for s in sections for entry in s["entries"]}
    missing = sorted(set(logged) - named)
    if missing:
        sections.append({"slug": "", "title": "", "entries": [[k, ""] for k in missing]})
    return sections


def downgrade() -> None:
    conn = op.get_bind()
    op.drop_index("ix_editions_open", table_name="editions")
    op.add_column("editions", sa.Column("sections", sa.JSON(), nullable=True))
    op.add_column("editions", sa.Column("rendering_key", sa.String(64), nullable=True))
    op.add_column("editions", sa.Column("leased_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE editions SET leased_at = claimed_at")
    with op.batch_alter_table("editions") as batch:
        batch.alter_column("leased_at", existing_type=sa.DateTime(), nullable=False)
    op.create_index("ix_editions_status", "editions", ["status"])
    op.create_table(
        "sent_log",
        sa.Column(
            "subscriber_id",
            sa.Integer(),
            sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("paper_key", sa.String(512), primary_key=True),
        sa.Column(
            "edition_id",
            sa.Integer(),
            sa.ForeignKey("editions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_sent_log_edition_id", "sent_log", ["edition_id"])
    op.create_index("ix_sent_log_sent_at", "sent_log", ["sent_at"])
    query = (
        sa.select(
            editions.c.id,
            editions.c.subscriber_id,
            editions.c.status,
            editions.c.claimed_at,
            digests.c.sections,
        )
        .join(digests, digests.c.id == editions.c.digest_id)
        .order_by(editions.c.claimed_at, editions.c.id)
    )
    seen: set[tuple[int, str]] = set()
    for edition_id, subscriber_id, status, claimed_at, sections in conn.execute(query).all():
        conn.execute(editions.update().where(editions.c.id == edition_id).values(sections=sections))
        if status not in _SENT_LOG_STATES:
            continue
        rows = []
        for section in sections:
            for key, _reason in section["entries"]:
                if (subscriber_id, key) not in seen:
                    seen.add((subscriber_id, key))
                    rows.append(
                        {
                            "subscriber_id": subscriber_id,
                            "paper_key": key,
                            "edition_id": edition_id,
                            "sent_at": claimed_at,
                        }
                    )
        if rows:
            conn.execute(sent_log.insert(), rows)
    with op.batch_alter_table("editions") as batch:
        batch.drop_column("digest_id")
    op.drop_table("digests")
