"""A send commits once per provider call: each call's hand-over records the
previous call's outcomes in the same transaction (on PostgreSQL, the same
statement), so while a request is out its editions are the only ones
`sending` and every earlier one is recorded."""

from __future__ import annotations

import threading
from collections import Counter
from itertools import pairwise

from sqlalchemy import event, select

from digest.db.schema import editions
from tests.test_mail_sendgrid import fake, mailer_for, populate, run, vision  # noqa: F401


def test_one_commit_per_call_and_only_the_call_out_is_sending(engine, fake):  # noqa: F811
    populate(engine, [(3, vision()), (2, vision(max_papers=2)), (2, vision(format="text"))])
    commits, statements = [0], [0]
    sender = threading.get_ident()

    def executed(conn, cursor, statement, *_):
        # Not the observer's query, nor SQLite's BEGIN IMMEDIATE.
        if threading.get_ident() == sender and not statement.startswith("BEGIN"):
            statements[0] += 1

    event.listen(engine, "commit", lambda conn: commits.__setitem__(0, commits[0] + 1))
    event.listen(engine, "before_cursor_execute", executed)
    seen = []  # at each request's arrival: (commits, statements so far, states by status)

    def observe(number):
        with engine.connect() as conn:
            states = Counter(conn.execute(select(editions.c.status)).scalars())
        seen.append((commits[0], statements[0], states))
        return None  # no fault: answer 202

    fake.faults = observe
    report = run(engine, mailer_for(fake))
    assert report.counts == Counter(sent=7) and fake.received == 3
    sizes = [len(a.recipients) for a in fake.accepted]
    sent_before = [sum(sizes[:i]) for i in range(3)]
    for (_, _, states), size, sent in zip(seen, sizes, sent_before, strict=True):
        assert states["sending"] == size and states["sent"] == sent, states
    # Between two requests: one transaction (record the last, hand over the next).
    assert [b[0] - a[0] for a, b in pairwise(seen)] == [1, 1]
    # ... of three statements when everyone is sent and nobody left: the
    # record, the hand-over's move and its suppression lookup; on PostgreSQL
    # one that does all three (digest.store.call_fence).
    per_call = 1 if engine.dialect.name == "postgresql" else 3
    assert [b[1] - a[1] for a, b in pairwise(seen)] == [per_call, per_call]
