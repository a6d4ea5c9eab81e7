"""PostgreSQL: record a provider call's outcomes and hand the next call over
in one statement.

The send loop (`digest.delivery`) records each call's outcomes in the
transaction that hands the next call over. Written as `_record` and
`editions.hand_over` do it, that transaction is five or six round trips on
PostgreSQL (the pool's ping and BEGIN, the record, the move, the suppression
lookup, COMMIT), and at 1,000,000 readers the two sending processes waited
about 1 ms a call for them, with the server on the same two cores
(benchmarks/RESULTS.md, phase 7). `CallFence` does the same work in one
statement of data-modifying CTEs, run in autocommit on a connection it holds:
PostgreSQL runs a statement atomically, so it is still one transaction, and
it is one round trip (plus two a batch, to set the connection's plan mode
and to reset it). It needs PostgreSQL 12 or newer (`sha256()`,
`plan_cache_mode`).

It keeps `hand_over`'s contract: only editions this run still holds
`pending` move to `sending`, and only while the subscriber is active and the
address is not suppressed; claims of this run whose subscriber left (or whose
address is suppressed) are released. The suppression list keeps the sha256 of
the stripped, lower-cased address (`email_hash`). The statement hashes
addresses of printable ASCII without spaces itself: for those, PostgreSQL's
lower() under the "C" collation and Python's str.lower() agree, and strip()
changes nothing. An edition whose address is anything else stays pending and
is returned as "rest", for `hand_over` to decide in its own transaction.

The record keeps `_record`'s: each outcome is written only on an edition the
run still holds in `sending`; "sent" sets the message id and the sent time,
"failed" and "unknown" the error, "released" deletes the claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Engine, bindparam, text

from digest.db.schema import UTCDateTime
from digest.store.prepared import Prepared

# `e.run_id + 0`: see `editions.run_among_ids` (stale statistics must not
# send a statement that names its editions by id to the run index).
# Every step reaches editions by primary key, once per edition: the lists
# as unnests joined on the key, the verdicts through arrays made once
# (`ANY(ARRAY(...))`). A join against a CTE is a nested loop that scans the
# CTE again for each edition (planned with the statistics' guess of one
# row): 67 ms for a call of 500 recipients, against 9 ms. (`id = ANY(list)`
# with an empty list is a contradiction the planner may answer with any
# partial index, read whole.)
_STATEMENT = Prepared(
    text(
        """
WITH recorded AS (
    UPDATE editions AS e SET
        status = o.state,
        message_id = CASE WHEN o.state = 'sent' THEN o.value ELSE e.message_id END,
        error = CASE WHEN o.state = 'sent' THEN e.error ELSE o.value END,
        sent_at = CASE WHEN o.state = 'sent' THEN :sent_at ELSE e.sent_at END
    FROM unnest(
        CAST(:done_ids AS integer[]), CAST(:done_states AS text[]),
        CAST(:done_values AS text[])
    ) AS o(id, state, value)
    WHERE e.id = o.id AND e.run_id + 0 = :run AND e.status = 'sending'
),
released AS (
    DELETE FROM editions AS e USING unnest(CAST(:released AS integer[])) AS r(id)
    WHERE e.id = r.id AND e.run_id + 0 = :run AND e.status = 'sending'
),
verdict AS (
    SELECT id, CASE
        WHEN email IS NULL THEN 'drop'
        WHEN hash IS NULL THEN 'rest'
        WHEN EXISTS (SELECT 1 FROM suppressions AS x WHERE x.email_hash = hash) THEN 'drop'
        ELSE 'move'
    END AS verdict
    FROM (
        SELECT e.id, s.email,
            CASE WHEN s.email ~ '^[!-~]+$'
                THEN encode(sha256(convert_to(lower(s.email COLLATE "C"), 'UTF8')), 'hex')
            END AS hash
        FROM unnest(CAST(:ids AS integer[])) AS c(id)
        JOIN editions AS e ON e.id = c.id
        LEFT JOIN subscribers AS s ON s.id = e.subscriber_id AND s.status = 'active'
        WHERE e.status = 'pending' AND e.run_id + 0 = :run
    ) AS mine
),
moved AS (
    UPDATE editions AS e SET status = 'sending'
    WHERE e.id = ANY(ARRAY(SELECT id FROM verdict WHERE verdict = 'move'))
        AND e.status = 'pending' AND e.run_id + 0 = :run
    RETURNING e.id
),
dropped AS (
    DELETE FROM editions AS e
    WHERE e.id = ANY(ARRAY(SELECT id FROM verdict WHERE verdict = 'drop'))
        AND e.status = 'pending' AND e.run_id + 0 = :run
    RETURNING e.id
)
SELECT id, 'move' FROM moved
UNION ALL SELECT id, 'drop' FROM dropped
UNION ALL SELECT id, 'rest' FROM verdict WHERE verdict = 'rest'
"""
    ).bindparams(bindparam("sent_at", type_=UTCDateTime()))
)


class Handed(NamedTuple):
    """What the statement did with the call's editions."""

    moved: list[int]  # now `sending`: send exactly these
    dropped: list[int]  # released: the subscriber left or the address is suppressed
    rest: list[int]  # still pending: addresses the statement does not hash


class CallFence:
    """One autocommit connection for a batch's provider calls (PostgreSQL
    only); close it when the batch is done.

    The statement is planned once, generically, on this connection: with
    PostgreSQL's default plan cache mode each execution was planned again for
    its values (the generic plan's estimate loses to the custom plans'), and
    planning cost as much as running it (0.7-0.8 ms of the server's CPU a
    call against 0.3-0.4 with the generic plan, measured on the 1,000,000
    day's database). The generic plan reaches every row by primary key whatever
    the list sizes. The setting is reset before the connection goes back to
    the pool."""

    def __init__(self, engine: Engine) -> None:
        self.conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self._set("SET plan_cache_mode = force_generic_plan")

    def close(self) -> None:
        try:
            self._set("RESET plan_cache_mode")
        finally:
            self.conn.close()

    def _set(self, statement: str) -> None:
        with self.conn.begin():
            self.conn.exec_driver_sql(statement)

    def record_and_hand_over(
        self,
        done: Sequence[tuple[int, str, str | None]],
        ids: Sequence[int],
        *,
        run_id: int,
        sent_at: datetime,
    ) -> Handed:
        """Record `done` ((edition id, state, value) for states sent, failed,
        unknown and released; the value is the message id of a sent edition,
        the error of the others) and hand over `ids`, in one statement."""
        kept = [row for row in done if row[1] != "released"]
        params = {
            "done_ids": [row[0] for row in kept],
            "done_states": [row[1] for row in kept],
            "done_values": [row[2] for row in kept],
            "released": [row[0] for row in done if row[1] == "released"],
            "ids": list(ids),
            "run": run_id,
            "sent_at": sent_at,
        }
        handed = Handed([], [], [])
        # Autocommit: begin() sends nothing and lets `Prepared` use the cursor.
        with self.conn.begin():
            for edition_id, verdict in _STATEMENT.rows(self.conn, params):
                getattr(handed, _FIELD[verdict]).append(edition_id)
        for found in handed:
            found.sort()
        return handed


_FIELD = {"move": "moved", "drop": "dropped", "rest": "rest"}
