"""Link statistics against numbers worked out by hand: a 2x2 table and the evidence rule."""

from __future__ import annotations

import math

import duckdb
import pytest

from persona_mining.config import LinkConfig
from persona_mining.personas.link import link_issues
from tests.test_link import build, cell, many, personas

Z95 = 1.959963984540054


def test_a_two_by_two_table_gives_the_hand_computed_lift_interval_and_p_value(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # One ticket per customer. Persona: 12 of 20 customers on topic 0; others: 2 of 20.
    tickets = many("a", 20, lambda i, k: 0 if i < 12 else 1) + many(
        "b", 20, lambda i, k: 0 if i < 2 else 1
    )
    build(con, tickets)
    personas(con)
    link_issues(con, config=LinkConfig())
    row = cell(con, 0)
    assert row["lift"] == pytest.approx(0.6 / 0.1)
    # With one ticket per customer the clustered variance of log(share) is (1 - p) / ((m - 1) p):
    # 0.4 / (19 * 0.6) inside, 0.9 / (19 * 0.1) outside.
    se = math.sqrt(0.4 / (19 * 0.6) + 0.9 / (19 * 0.1))
    assert row["ci_low"] == pytest.approx(6 * math.exp(-Z95 * se))  # 1.4825
    assert row["ci_high"] == pytest.approx(6 * math.exp(Z95 * se))  # 24.283

    # The exact conditional test on tickets: 14 tickets on the topic, the persona holds half of
    # all tickets, so its count is Binomial(14, 1/2) under no link; customers do not repeat the
    # topic (one ticket each), so no design effect. One-sided: P(X >= 12) = (91 + 14 + 1) / 2^14.
    assert row["p_value"] == pytest.approx(106 / 2**14)
    assert row["significant"] is True
    # Two-sided, as with findings = "both": twice the smaller tail.
    link_issues(con, config=LinkConfig(findings="both"))
    assert cell(con, 0)["p_value"] == pytest.approx(2 * 106 / 2**14)


def test_a_cell_needs_min_customers_to_be_significant(con: duckdb.DuckDBPyConnection) -> None:
    # 4 of 20 persona customers raise topic 2 (3 tickets each) against 2 of 200 others: a
    # clear over-index, but on 4 voices.
    tickets = (
        many("a", 4, lambda i, k: 2, per_customer=3)
        + [(f"x{i}", f"a-{i}", 0) for i in range(4, 20)]
        + many("b", 200, lambda i, k: 2 if i < 2 else i % 2)
    )
    build(con, tickets)
    personas(con)
    link_issues(con, config=LinkConfig(min_customers=5, min_tickets=5))
    strict = cell(con, 2)
    assert strict["customers"] == 4 and strict["tickets"] == 12
    assert strict["ci_low"] > 1 and strict["q_value"] < 0.05
    assert strict["significant"] is False
    link_issues(con, config=LinkConfig(min_customers=4, min_tickets=5))
    assert cell(con, 2)["significant"] is True
