"""send queue (procrastinate's schema, PostgreSQL only)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

The send queue (`digest worker`, digest/send_queue.py) keeps its jobs in
procrastinate's tables, created here from the schema of procrastinate 3.10.0
as shipped (`procrastinate/schema-3.10.0.sql` beside this folder). The file is
a copy, not read from the installed package: a fresh database must get the same
schema as one migrated step by step, whatever procrastinate release is
installed. A procrastinate upgrade that adds migrations (its
`procrastinate/sql/migrations/*.sql`) comes with a new revision applying them,
and with the version range in pyproject.toml moved on
(tests/test_send_queue_schema.py fails until then).

SQLite has no queue (its sends run in-process): a no-op there. The tables stay
outside `digest.db.schema.metadata` (`digest.db.schema.ours` tells
autogenerate to leave them alone).
"""

from pathlib import Path

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SCHEMA = Path(__file__).resolve().parent.parent / "procrastinate" / "schema-3.10.0.sql"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # The raw psycopg connection, in the migration's transaction: the schema
    # is many statements with `$$` bodies and `%` signs, which neither
    # SQLAlchemy's text() nor a parameterised execute would leave alone.
    bind.connection.driver_connection.execute(SCHEMA.read_text(encoding="utf-8"))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    raw = bind.connection.driver_connection
    # Everything procrastinate made is named procrastinate_*: tables (their
    # indexes and triggers go with them), then functions, then types.
    raw.execute(
        """
        DO $$
        DECLARE item record;
        BEGIN
            FOR item IN SELECT tablename FROM pg_tables
                         WHERE schemaname = current_schema() AND tablename LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.tablename);
            END LOOP;
            FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p
                         JOIN pg_namespace n ON n.oid = p.pronamespace
                         WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.signature);
            END LOOP;
            FOR item IN SELECT t.typname FROM pg_type t
                         JOIN pg_namespace n ON n.oid = t.typnamespace
                         WHERE n.nspname = current_schema() AND t.typname LIKE 'procrastinate\\_%'
                           AND t.typtype IN ('e', 'c')
            LOOP
                EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', item.typname);
            END LOOP;
        END;
        $$;
        """
    )
