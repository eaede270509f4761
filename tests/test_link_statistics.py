"""Link statistics against numbers worked out by hand: a 2x2 table and the evidence rule."""

from __future__ import annotations

import math

import duckdb
import numpy as np
import pytest

from persona_mining.config import LinkConfig
from persona_mining.personas.link import link_issues
from persona_mining.stats import (
    ClusteredRate,
    clustered_count_test,
    design_effect,
    rate_ratio,
)
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


def test_every_cell_matches_the_per_customer_definitions_on_repeating_customers(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # The stage sums every topic of a persona at once; each cell must be what the definitions
    # give from the persona's and everyone else's per-customer counts, customers repeating
    # topics (the design effect) included.
    rng = np.random.default_rng(3)
    tickets: list[tuple[str, str | None, int]] = []
    for group, n, weights in (("a", 30, [0.5, 0.2, 0.2, 0.1]), ("b", 90, [0.2, 0.3, 0.3, 0.2])):
        for i in range(n):
            for k in range(int(rng.integers(1, 6))):
                topic = int(rng.choice([0, 1, 2, -1], p=weights))
                tickets.append((f"{group}{i}-{k}", f"{group}-{i}", topic))
    build(con, tickets)
    personas(con)
    link_issues(con, config=LinkConfig())
    counts: dict[str, np.ndarray] = {}
    for _, customer, topic in tickets:
        row = counts.setdefault(str(customer), np.zeros(5))
        row[topic + 1] += 1  # column 0: unclustered
        row[4] += 1  # every ticket
    inside = np.array([v for c, v in sorted(counts.items()) if c.startswith("a-")])
    outside = np.array([v for c, v in sorted(counts.items()) if c.startswith("b-")])
    for topic in (0, 1, 2):
        a, n_a = inside[:, topic + 1], inside[:, 4]
        b, n_b = outside[:, topic + 1], outside[:, 4]
        rate_in = ClusteredRate.from_customers(a, n_a)
        rate_out = ClusteredRate.from_customers(b, n_b)
        ratio = rate_ratio(rate_in, rate_out, confidence=0.95)
        # The interval is never narrower than Katz's with the topic's design effect.
        y, n = np.concatenate([a, b]), np.concatenate([n_a, n_b])
        phi = design_effect(
            members=len(a),
            customers=len(y),
            residual_squares=float(((y - y.sum() / n.sum() * n) ** 2).sum()),
            topic=float(y.sum()),
            share=float(n_a.sum() / n.sum()),
        )
        katz = math.sqrt(phi * (1 / a.sum() - 1 / n_a.sum() + 1 / b.sum() - 1 / n_b.sum()))
        se = max(math.log(ratio.ci_high / ratio.ratio) / Z95, katz)
        row = cell(con, topic)
        assert row["tickets"] == a.sum() and row["customers"] == (a > 0).sum()
        assert row["lift"] == pytest.approx(rate_in.rate / rate_out.rate, rel=1e-12)
        assert row["ci_low"] == pytest.approx(ratio.ratio * math.exp(-Z95 * se), rel=1e-9)
        assert row["ci_high"] == pytest.approx(ratio.ratio * math.exp(Z95 * se), rel=1e-9)
        expected = clustered_count_test(a, n_a, b, n_b, alternative="greater")
        assert row["p_value"] == pytest.approx(expected, rel=1e-12)


def test_a_topic_one_customer_fills_has_an_interval_as_wide_as_its_design_effect(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # Persona: 20 customers; a-0 sent 30 tickets on topic 0, a-1..a-5 one each, the rest one
    # ticket on topic 1. Everyone else: 60 customers, 1 in 10 with one ticket on topic 0.
    tickets = (
        [(f"extra-{k}", "a-0", 0) for k in range(30)]
        + many("a", 20, lambda i, k: 1 if i == 0 or i > 5 else 0)
        + many("b", 60, lambda i, k: 0 if i % 10 == 0 else 1)
    )
    build(con, tickets)
    personas(con)
    link_issues(con, config=LinkConfig())
    row = cell(con, 0)
    ins, outs = np.zeros(20), np.zeros(60)
    totals_in, totals_out = np.ones(20), np.ones(60)
    ins[0], totals_in[0] = 30, 31
    ins[1:6] = 1
    outs[::10] = 1
    clustered = rate_ratio(
        ClusteredRate.from_customers(ins, totals_in),
        ClusteredRate.from_customers(outs, totals_out),
        confidence=0.95,
    )
    assert row["lift"] == pytest.approx(clustered.ratio)
    # The clustered interval rests on a-0 alone; the design effect's is wider.
    assert row["ci_low"] < clustered.ci_low and row["ci_high"] > clustered.ci_high
