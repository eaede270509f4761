"""The customer x topic matrix behind the link statistics, against a plain count."""

from __future__ import annotations

import duckdb
import numpy as np

from persona_mining.personas.link import _Counts, _customer_topic_counts, _group_counts
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
    np.testing.assert_array_equal(counts.dense(), [[2, 1], [0, 0], [1, 0]])
    np.testing.assert_array_equal(counts.total, [3, 1, 3])


def test_counts_of_a_model_without_tickets_are_empty(con: duckdb.DuckDBPyConnection) -> None:
    build(con, [("t1", "a-1", 0)])
    con.execute("DELETE FROM ticket_topics")
    counts = _customer_topic_counts(con, "m1")
    assert counts.customers == []
    assert counts.dense().shape == (0, 3)
    assert counts.total.shape == (0,)


def _random_counts(seed: int) -> _Counts:
    """Counts of 300 customers on 7 topics, most customers on one or two of them."""
    rng = np.random.default_rng(seed)
    dense = rng.poisson(0.3, size=(300, 7)).astype(np.float64)
    dense[rng.random(300) < 0.1] = 0  # some customers only ever unclustered
    customer, topic = np.nonzero(dense)
    total = dense.sum(axis=1) + rng.poisson(0.5, size=300)  # unclustered tickets too
    customers = [f"c{i:03d}" for i in range(300)]
    return _Counts(customers, list(range(7)), customer, topic, dense[customer, topic], total)


def test_sums_over_rows_match_the_customer_by_topic_matrix() -> None:
    counts = _random_counts(1)
    dense = counts.dense()
    members = np.random.default_rng(2).random(len(counts.customers)) < 0.3
    rate = np.linspace(0.01, 0.4, 7)
    for mask in (None, members, ~members):
        rows = dense if mask is None else dense[mask]
        totals = counts.total if mask is None else counts.total[mask]
        tickets, customers = counts.per_topic(mask)
        np.testing.assert_array_equal(tickets, rows.sum(axis=0))
        np.testing.assert_array_equal(customers, (rows > 0).sum(axis=0))
        np.testing.assert_allclose(
            counts.residual_squares(rate, mask),
            ((rows - rate * totals[:, None]) ** 2).sum(axis=0),
            rtol=1e-12,
        )


def test_group_counts_add_up_each_customers_topics_of_a_group() -> None:
    counts = _random_counts(3)
    group_of = {0: 5, 2: 5, 3: 9, 4: 5, 6: 9}  # topics 1 and 5 in no group
    grouped = _group_counts(counts, group_of)
    dense = counts.dense()
    assert grouped.topics == [5, 9]
    np.testing.assert_array_equal(
        grouped.dense(),
        np.stack([dense[:, [0, 2, 4]].sum(axis=1), dense[:, [3, 6]].sum(axis=1)], axis=1),
    )
    np.testing.assert_array_equal(grouped.total, counts.total)
    assert (grouped.tickets > 0).all()
