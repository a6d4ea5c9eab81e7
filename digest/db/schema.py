"""The tables, as SQLAlchemy Core metadata. Alembic migrations under
`digest/db/migrations` are the source of truth for the live schema; this module
mirrors them for queries (a test checks the two agree)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    Unicode,
    func,
    literal_column,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator):
    """Stores UTC without a zone (SQLite has none) and always returns aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

papers = Table(
    "papers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(512), nullable=False, unique=True),
    Column("arxiv_id", String(64)),
    Column("version", Integer),
    Column("doi", String(256)),
    Column("title", Text, nullable=False),
    Column("abstract", Text, nullable=False, default=""),
    Column("authors", JSON, nullable=False, default=list),
    Column("categories", JSON, nullable=False, default=list),
    Column("primary_category", String(64)),
    Column("announce_type", String(16)),
    Column("published_at", UTCDateTime),
    Column("updated_at", UTCDateTime),
    Column("available_at", UTCDateTime),
    Column("trending_at", UTCDateTime),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("trending_seen_at", UTCDateTime),
    Column("changed_at", UTCDateTime, nullable=False),
    Column("abs_url", Text),
    Column("pdf_url", Text),
    Column("hf_url", Text),
    Column("code_url", Text),
    Column("project_url", Text),
    Column("thumbnail_url", Text),
    Column("upvotes", Integer),
    Column("comments", Integer),
    Column("github_stars", Integer),
    Column("ai_summary", Text),
    Column("ai_keywords", JSON, nullable=False, default=list),
    Column("sources", JSON, nullable=False, default=list),
    Index("ix_papers_first_seen_at", "first_seen_at"),
    Index("ix_papers_trending_seen_at", "trending_seen_at"),
    Index("ix_papers_available_at", "available_at"),
    Index("ix_papers_trending_at", "trending_at"),
)

fetch_state = Table(
    "fetch_state",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_attempt_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_error", Text),
    Column("last_report", JSON),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    # pending | active | unsubscribed | suppressed
    Column("status", String(16), nullable=False),
    Column("name", String(200)),
    Column("topics", JSON, nullable=False, default=list),  # ["nlp:5:10", ...]
    Column("keywords", JSON, nullable=False, default=list),
    Column("categories", JSON, nullable=False, default=list),
    Column("authors", JSON, nullable=False, default=list),
    Column("mute", JSON, nullable=False, default=list),
    Column("frequency", String(8), nullable=False),
    Column("weekday", Integer, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("hour", Integer, nullable=False),
    Column("max_papers", Integer, nullable=False),
    Column("format", String(8), nullable=False),
    Column("cross_lists", Boolean, nullable=False),
    Column("min_upvotes", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime),
    Column("unsubscribed_at", UTCDateTime),
    Column("soft_bounces", Integer, nullable=False, default=0),
    Index("ix_subscribers_status", "status"),
    # One subscriber per address ignoring case (migration 0002): two sign-ups
    # for Ada@ and ada@ at the same moment cannot both insert.
    Index("uq_subscribers_email_lower", func.lower(text("email")), unique=True),
)

# Hashed addresses of people who left or bounced; no address is kept in clear.
suppressions = Table(
    "suppressions",
    metadata,
    Column("email_hash", String(64), primary_key=True),
    Column("reason", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# What a digest showed, once per distinct (period, sections): every edition
# that showed exactly this points at it, so an edition row stays small.
digests = Table(
    "digests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # sha256 of the period and the sections record (digest.shown.record_key).
    Column("key", String(64), nullable=False, unique=True),
    Column("period", String(16), nullable=False),
    # [{"slug", "title", "entries": [[paper key, reason], ...]}, ...] in order.
    Column("sections", JSON, nullable=False),
    Column("paper_count", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Editions not yet settled: the claims a run looks for (its pending ones when it
# ends, its sending ones when it is recovered, the queued ones). A statement
# that adds `OPEN_CLAIM` to its conditions can use SQLite's partial run index
# (SQLite uses a partial index only for a query that repeats its condition).
_OPEN = "status IN ('pending', 'sending', 'unknown', 'queued')"
OPEN_CLAIM = text(f"editions.{_OPEN}")
# The editions `digest status` and resending look for: every failed or unknown
# edition carries its error (revision 0011), and no other does. A search for
# those states adds `HAS_ERROR` so that the problems index finds them.
_PROBLEM = "error IS NOT NULL"
HAS_ERROR = text(f"editions.{_PROBLEM}")
# The period as a number: YYYYMMDD for a day, YYYYWW for an ISO week (they
# cannot meet). The unique key holds it instead of the text (revision 0012):
# 4 bytes an entry against 11, in the index that grows by one entry per
# subscriber a day. A statement that names the key (the claim's ON CONFLICT,
# an ORDER BY in key order) uses `PERIOD_NUMBER`: the database matches an
# index's expression by its form, constants included, which a statement
# that bound them as parameters would not match.
_PERIOD_NUMBER = "CAST(replace(replace({period}, '-W', ''), '-', '') AS INTEGER)"
PERIOD_NUMBER = literal_column(_PERIOD_NUMBER.format(period="editions.period"), Integer)

# One row per (subscriber, period): the claim that makes an edition happen once.
# The papers it showed are its digest's: "was this paper ever sent to this
# subscriber" is answered from the digests of their counted editions.
editions = Table(
    "editions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("period", String(16), nullable=False),
    # pending [-> queued -> pending] -> sending -> sent | failed | unknown;
    # "empty" when nothing was sent ("queued": waiting in the send queue).
    Column("status", String(16), nullable=False),
    # The moment the edition's candidates were taken (the run's start): the
    # cutoff the next edition of this subscriber counts from.
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    # Written until revision 0012 (NULL since: the digest's count, or 0 for an
    # empty edition, as the store's edition readers fill it in).
    Column("paper_count", Integer),
    # What the email showed (NULL: an empty edition). No foreign key: digests
    # are pruned only when no edition points at them, and a key checked on
    # every claim would cost an index on this column.
    Column("digest_id", Integer),
    Column("message_id", String(256)),
    # Written until revision 0012 (NULL since: the run's mailer, `runs.mailer`).
    Column("mailer", String(16)),
    Column("error", Text),
    # The run that holds the claim (see `runs`); NULL only for rows claimed
    # before runs existed. No foreign key: runs are never deleted.
    Column("run_id", Integer),
    # The previous claim this edition's candidates counted from (NULL: a first
    # edition). A gap between it and the claim before tells a released edition.
    Column("reached_after", UTCDateTime),
    # What the provider's event webhook last said: delivered, bounce, dropped, ...
    Column("delivery", String(16)),
    Index(
        "uq_editions_subscriber_period_number",
        "subscriber_id",
        text(_PERIOD_NUMBER.format(period="period")),
        unique=True,
    ),
    # On PostgreSQL no index names a column a send's steps change (status,
    # message_id, sent_at): each step (pending -> sending -> sent) is
    # then a HOT update, which writes no index entry and whose old version
    # the page reclaims itself, given room on the page (revision 0011 keeps a
    # tenth of each page free: fillfactor 90). A run finds its claims by the
    # run index there (a few bytes an edition: PostgreSQL deduplicates the
    # entries runs share). SQLite updates its indexes anyway, so it keeps
    # only the unsettled editions in that index, which then costs next to
    # nothing a settled edition. The problems are found by their error.
    Index("ix_editions_run", "run_id", sqlite_where=text(_OPEN)),
    Index(
        "ix_editions_problems",
        "claimed_at",
        postgresql_where=text(_PROBLEM),
        sqlite_where=text(_PROBLEM),
    ),
)

# One row per `digest send` (and future worker) process. A run holds the named
# lock `run:<id>` (digest/locks.py) while it lives; a run whose row is open
# (ended_at NULL) but whose lock is free died, and its claims are recovered.
runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    # The mailer whose calls the run makes (NULL: it sends nothing), what its
    # `sending` editions are reconciled with when it dies (revision 0012;
    # editions claimed before it name theirs).
    Column("mailer", String(16)),
    # finished | recovered (it died; another run recovered its claims)
    Column("outcome", String(16)),
    Index("ix_runs_ended_at", "ended_at"),
)

# The shared send-rate ceiling: the next free moment (epoch seconds) per bucket,
# reserved under a row lock by every sender on this database.
send_rate = Table(
    "send_rate",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("next_at", Float, nullable=False),
)

# Consent records (web sign-ups and confirmations): when, from where, which form.
consents = Table(
    "consents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("action", String(16), nullable=False),  # signup | confirm
    Column("created_at", UTCDateTime, nullable=False),
    Column("ip", String(64)),
    Column("user_agent", String(300)),
    Column("form_version", String(32)),
    Index("ix_consents_subscriber_id", "subscriber_id"),
)

# Confirmation emails sent, by hashed address: the per-address throttle.
confirmation_sends = Table(
    "confirmation_sends",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email_hash", String(64), nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
    Index("ix_confirmation_sends_email_hash_sent_at", "email_hash", "sent_at"),
)

# Provider events already processed (SendGrid sends each more than once).
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("event_id", String(128), primary_key=True),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_webhook_events_received_at", "received_at"),
)

# APScheduler's persistent job store, in exactly the layout its
# SQLAlchemyJobStore expects (it only creates the table when missing; here a
# migration does). Owned by `digest run`; `digest status` reads next_run_time.
apscheduler_jobs = Table(
    "apscheduler_jobs",
    metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),  # UTC epoch seconds; NULL = paused
    Column("job_state", LargeBinary, nullable=False),  # pickled job, function by module path
)

# procrastinate's tables (the send queue, PostgreSQL only; revision 0008 makes
# them from procrastinate's own schema file) are not mirrored here: they are
# procrastinate's to read and write. `ours` tells Alembic's comparison to
# leave them out (include_name hook).
QUEUE_PREFIX = "procrastinate_"
# SQLite only, kept by triggers on `editions` (revisions 0009, 0010): how many times
# each subscriber's editions changed, read by a claim's recheck
# (digest.store.edition_claims). Not mirrored here either.
EDITION_VERSIONS = "edition_versions"


def ours(name: str | None, type_: str, parent_names: dict) -> bool:
    """Alembic `include_name`: False for procrastinate's tables and
    `edition_versions`."""
    if type_ != "table" or name is None:
        return True
    return not (name.startswith(QUEUE_PREFIX) or name == EDITION_VERSIONS)
