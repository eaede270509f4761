"""Link statistics on hand-built data: counts, lift, interval, exact test, q-values, evidence rules."""

from __future__ import annotations

import duckdb
import pytest
from scipy import stats

from persona_mining.config import LinkConfig, PersonaRule
from persona_mining.personas.link import link_issues
from persona_mining.personas.segments import build_segments
from persona_mining.stats import conditional_p_values, discoveries


def build(con: duckdb.DuckDBPyConnection, tickets: list[tuple[str, str | None, int]]) -> None:
    """Tickets as (ticket_id, customer_id, topic_id) under one model; customers c* in the table."""
    customers = sorted({c for _, c, _ in tickets if c})
    con.execute("ALTER TABLE customers ADD COLUMN grp VARCHAR")
    con.executemany(
        "INSERT INTO customers (customer_id, source, ingested_at, grp) VALUES (?, 's', now(), ?)",
        [[c, c.split("-")[0]] for c in customers],
    )
    con.executemany(
        "INSERT INTO tickets (ticket_id, customer_id, created_at, updated_at, body, source, raw_hash, row_hash, ingested_at) "
        "VALUES (?, ?, '2026-01-01', '2026-01-01', 'x', 's', 'h', 'h', now())",
        [[t, c] for t, c, _ in tickets],
    )
    con.execute(
        "INSERT INTO topic_models (model_id, created_at, path, embedding_model, n_tickets, n_topics, params) "
        "VALUES ('m1', now(), '/nowhere', 'e', ?, 3, '{}')",
        [len(tickets)],
    )
    con.executemany(
        "INSERT INTO topics (model_id, topic_id, label, keywords, size, group_id) VALUES ('m1', ?, ?, [], 0, ?)",
        [[t, f"topic {t}", -1 if t < 0 else t // 2] for t in (-1, 0, 1, 2)],
    )
    con.executemany(
        "INSERT INTO ticket_topics (ticket_id, model_id, topic_id, probability, text_hash) VALUES (?, 'm1', ?, 1.0, 'h')",
        [[t, topic] for t, _, topic in tickets],
    )


def personas(con: duckdb.DuckDBPyConnection) -> None:
    build_segments(con, personas=[PersonaRule(name="Group A", where="grp = 'a'")])


def cell(con: duckdb.DuckDBPyConnection, topic: int) -> dict[str, object]:
    cursor = con.execute("SELECT * FROM issue_by_persona WHERE topic_id = ?", [topic])
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchone(), strict=True))


def many(
    prefix: str, n: int, topic_of: callable, per_customer: int = 1
) -> list[tuple[str, str, int]]:  # type: ignore[valid-type]
    out = []
    for i in range(n):
        for k in range(per_customer):
            out.append((f"{prefix}{i}-{k}", f"{prefix}-{i}", topic_of(i, k)))
    return out


def test_counts_shares_and_lift_match_the_definitions(con: duckdb.DuckDBPyConnection) -> None:
    # Group a: 40 customers, 20 on topic 0; group b: 160 customers, 20 on topic 0.
    tickets = many("a", 40, lambda i, k: 0 if i < 20 else 1) + many(
        "b", 160, lambda i, k: 0 if i < 20 else 1
    )
    build(con, tickets)
    personas(con)
    result = link_issues(con, config=LinkConfig())
    row = cell(con, 0)
    assert (row["tickets"], row["customers"], row["segment_tickets"], row["segment_customers"]) == (
        20,
        20,
        40,
        40,
    )
    assert row["share"] == pytest.approx(0.5)
    assert row["baseline_share"] == pytest.approx(20 / 160)
    assert row["lift"] == pytest.approx(4.0)
    assert row["ci_low"] < 4.0 < row["ci_high"] and row["ci_low"] > 1
    # 40 tickets on the topic, the persona holds 40 of 200 tickets: Binomial(40, 0.2), one-sided.
    expected_p = stats.binomtest(20, 40, 0.2, alternative="greater").pvalue
    assert row["p_value"] == pytest.approx(expected_p)
    assert row["significant"] is True
    assert result.significant >= 1


def test_unclustered_tickets_count_in_denominators_but_are_not_tested(
    con: duckdb.DuckDBPyConnection,
) -> None:
    tickets = many("a", 30, lambda i, k: -1 if i < 10 else 0) + many("b", 30, lambda i, k: 0)
    build(con, tickets)
    personas(con)
    link_issues(con, config=LinkConfig())
    assert con.execute("SELECT count(*) FROM issue_by_persona WHERE topic_id = -1").fetchone() == (
        0,
    )
    assert cell(con, 0)["share"] == pytest.approx(20 / 30)


def test_one_noisy_customer_is_not_a_persona_challenge(con: duckdb.DuckDBPyConnection) -> None:
    # One customer of group a files 30 tickets on topic 2; nobody else ever does.
    noisy = [(f"n{k}", "a-0", 2) for k in range(30)]
    tickets = (
        noisy
        + many("a", 40, lambda i, k: 0, per_customer=1)[1:]
        + many("b", 200, lambda i, k: i % 2)
    )
    build(con, tickets)
    personas(con)
    link_issues(con, config=LinkConfig(min_customers=5))
    row = cell(con, 2)
    assert row["lift"] is None or row["customers"] == 1
    assert row["significant"] is False


def test_clustered_interval_is_wider_than_a_naive_one_for_repeat_contacts(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # Each group-a customer files 10 tickets all on one topic: 10x fewer independent voices.
    tickets = many("a", 30, lambda i, k: 0 if i < 12 else 1, per_customer=10) + many(
        "b", 300, lambda i, k: 0 if i < 60 else 1
    )
    build(con, tickets)
    personas(con)
    link_issues(con, config=LinkConfig())
    row = cell(con, 0)
    a, n1, b, n2 = 120, 300, 60, 300
    naive_se = (1 / a - 1 / n1 + 1 / b - 1 / n2) ** 0.5
    import math

    clustered_se = (math.log(row["ci_high"]) - math.log(row["ci_low"])) / (2 * 1.959964)
    assert clustered_se > 1.5 * naive_se


def test_under_indexed_issues_are_described_but_are_no_challenge(
    con: duckdb.DuckDBPyConnection,
) -> None:
    tickets = many("a", 100, lambda i, k: 0 if i < 5 else 1) + many(
        "b", 300, lambda i, k: 0 if i < 150 else 1
    )
    build(con, tickets)
    personas(con)
    link_issues(con, config=LinkConfig())
    row = cell(con, 0)
    assert row["lift"] < 1 and row["ci_high"] < 1
    assert row["p_value"] > 0.5 and row["significant"] is False


def test_under_indexing_is_a_finding_when_both_directions_are_asked_for(
    con: duckdb.DuckDBPyConnection,
) -> None:
    tickets = many("a", 100, lambda i, k: 0 if i < 5 else 1) + many(
        "b", 300, lambda i, k: 0 if i < 150 else 1
    )
    build(con, tickets)
    personas(con)
    link_issues(con, config=LinkConfig(findings="both"))
    row = cell(con, 0)
    assert row["lift"] < 1 and row["ci_high"] < 1 and row["significant"] is True


def test_q_values_cover_themes_and_issues_under_one_procedure(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # Topics 0 and 1 form theme 0, topic 2 theme 1; group a leans to topic 0, b to topic 2.
    tickets = many("a", 60, lambda i, k: 0 if i < 30 else 1 + i % 2) + many(
        "b", 150, lambda i, k: (0, 1, 2, 2)[i % 4]
    )
    build(con, tickets)
    personas(con)
    link_issues(con, config=LinkConfig())
    issues = con.execute(
        "SELECT topic_id // 2, p_value, q_value FROM issue_by_persona ORDER BY topic_id"
    ).fetchall()
    themes = con.execute(
        "SELECT group_id, p_value, q_value FROM issue_group_by_persona ORDER BY group_id"
    ).fetchall()
    every = issues + themes
    expected = discoveries(
        conditional_p_values([p for _, p, _ in every], threshold=0.5), alpha=0.05
    ).q_values
    assert [q for _, _, q in every] == pytest.approx([1.0 if q is None else q for q in expected])
    assert issues[0][2] < 0.05 and themes[0][2] < 0.05  # topic 0 and its theme: challenges
    assert issues[2][1] > 0.5 and issues[2][2] == 1.0  # topic 2 under-indexes: out of the family


def test_anonymous_tickets_stay_out_of_persona_statistics(con: duckdb.DuckDBPyConnection) -> None:
    tickets = (
        many("a", 20, lambda i, k: 0)
        + many("b", 20, lambda i, k: 1)
        + [(f"x{i}", None, 0) for i in range(50)]
    )
    build(con, tickets)
    personas(con)
    link_issues(con, config=LinkConfig())
    assert (
        cell(con, 0)["baseline_share"] == pytest.approx(0.0)
        or cell(con, 0)["baseline_share"] is None
    )


def test_relinking_replaces_rather_than_duplicates(con: duckdb.DuckDBPyConnection) -> None:
    build(con, many("a", 20, lambda i, k: i % 2) + many("b", 20, lambda i, k: 0))
    personas(con)
    link_issues(con, config=LinkConfig())
    first = con.execute("SELECT * FROM issue_by_persona ORDER BY ALL").fetchall()
    link_issues(con, config=LinkConfig())
    assert con.execute("SELECT * FROM issue_by_persona ORDER BY ALL").fetchall() == first


def test_topic_groups_are_linked_with_their_topics_added_up(con: duckdb.DuckDBPyConnection) -> None:
    # Topics 0 and 1 form group 0; topic 2 is group 1.
    tickets = many("a", 40, lambda i, k: i % 2) + many(
        "b", 160, lambda i, k: 2 if i < 120 else i % 2
    )
    build(con, tickets)
    personas(con)
    link_issues(con, config=LinkConfig())
    group = dict(
        zip(
            ["tickets", "share", "baseline_share", "significant"],
            con.execute(
                "SELECT tickets, share, baseline_share, significant FROM issue_group_by_persona WHERE group_id = 0"
            ).fetchone(),
            strict=True,
        )
    )
    assert group["tickets"] == 40 and group["share"] == pytest.approx(1.0)
    assert group["baseline_share"] == pytest.approx(40 / 160) and group["significant"] is True
