"""Where the next edition's candidates count from when claims were released
(digest.editions.candidates_floor): released papers are never stranded."""

from datetime import UTC, datetime, timedelta

from digest.editions import candidates_floor

T = [datetime(2026, 11, 19, 8, tzinfo=UTC) + timedelta(days=n) for n in range(6)]


def test_no_edition_means_a_first_edition():
    assert candidates_floor([]) is None


def test_an_unbroken_chain_counts_from_the_latest_claim():
    assert candidates_floor([(None, T[0]), (T[0], T[1]), (T[1], T[2])]) == T[2]


def test_a_released_edition_in_the_middle_reopens_its_gap():
    # T[1]'s edition was released after T[2]'s had been planned from it.
    assert candidates_floor([(None, T[0]), (T[1], T[2]), (T[2], T[3])]) == T[0]


def test_an_edition_that_covered_the_gap_closes_it():
    spans = [(None, T[0]), (T[1], T[2]), (T[0], T[3])]
    assert candidates_floor(spans) == T[3]


def test_a_released_first_edition_reaches_back_as_a_first_edition_would():
    assert candidates_floor([(T[2], T[3])]) == T[2] - timedelta(days=2)


def test_rows_from_before_the_floor_was_recorded_count_as_covering():
    assert candidates_floor([(None, T[0]), (None, T[1]), (T[1], T[2])]) == T[2]
