"""The customer x topic matrix behind the link statistics, against a plain count."""

from __future__ import annotations

import duckdb
import numpy as np

from persona_mining.personas.link import _customer_topic_counts
from tests.test_link import build


def test_counts_match_a_plain_count_with_unclustered_ignored_and_unknown_customers(
    con: duckdb.DuckDBPyConnection,
) -> None:
    tickets = [
        ("t1", "b-2", 0),
        ("t2", "a-1", 0),
        ("t3", "a-1", 0),
        ("t4", "a-1", 2),
        ("t5", "b-2", -1),
        ("t6", "a-10", 1),
        ("t7", None, 0),
        ("t8", "b-2", 1),
    ]
    build(con, tickets)
    con.execute("UPDATE topics SET ignored = true WHERE model_id = 'm1' AND topic_id = 1")
    counts = _customer_topic_counts(con, "m1")
    assert counts.customers == ["a-1", "a-10", "b-2"]
    assert counts.topics == [0, 2]
    np.testing.assert_array_equal(counts.by_topic, [[2, 1], [0, 0], [1, 0]])
    np.testing.assert_array_equal(counts.total, [3, 1, 3])


def test_counts_of_a_model_without_tickets_are_empty(con: duckdb.DuckDBPyConnection) -> None:
    build(con, [("t1", "a-1", 0)])
    con.execute("DELETE FROM ticket_topics")
    counts = _customer_topic_counts(con, "m1")
    assert counts.customers == []
    assert counts.by_topic.shape == (0, 3)
    assert counts.total.shape == (0,)
