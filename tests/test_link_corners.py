"""Link statistics at the corners: every cell written has a defined lift, interval and q-value."""

from __future__ import annotations

import math

import duckdb
import pytest

from persona_mining.config import LinkConfig, PersonaRule
from persona_mining.personas.link import link_issues
from persona_mining.personas.segments import build_segments
from tests.test_link import build, many, personas


def rows(con: duckdb.DuckDBPyConnection) -> list[dict[str, object]]:
    cursor = con.execute("SELECT * FROM issue_by_persona ORDER BY segment_id, topic_id")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def assert_defined(row: dict[str, object]) -> None:
    """The lift, interval, p and q of a cell are finite numbers that mean what they say."""
    for key in ("baseline_share", "lift", "ci_low", "ci_high", "p_value", "q_value"):
        value = row[key]
        assert isinstance(value, float) and math.isfinite(value), (key, row)
    assert row["ci_low"] <= row["ci_high"]  # type: ignore[operator]
    assert 0 < row["p_value"] <= row["q_value"] <= 1  # type: ignore[operator]


def test_a_segment_without_tickets_gets_no_cells(con: duckdb.DuckDBPyConnection) -> None:
    build(con, many("a", 20, lambda i, k: i % 2) + many("b", 20, lambda i, k: 0))
    con.execute(
        "INSERT INTO customers (customer_id, source, ingested_at, grp) VALUES ('z-1', 's', now(), 'z')"
    )
    build_segments(
        con,
        personas=[
            PersonaRule(name="Group A", where="grp = 'a'"),
            PersonaRule(name="Silent", where="grp = 'z'"),
        ],
    )
    link_issues(con, config=LinkConfig())
    found = rows(con)
    assert {r["segment_id"] for r in found} == {"group-a"}
    # Topic 2 was raised by nobody: no cell says anything about it.
    assert sorted(r["topic_id"] for r in found) == [0, 1]
    for row in found:
        assert_defined(row)


def test_a_segment_of_everyone_gets_no_cells(con: duckdb.DuckDBPyConnection) -> None:
    build(con, many("a", 20, lambda i, k: i % 2) + many("b", 20, lambda i, k: 0))
    build_segments(
        con,
        personas=[
            PersonaRule(name="Everyone", where="true"),
            PersonaRule(name="Group A", where="grp = 'a'"),
        ],
    )
    result = link_issues(con, config=LinkConfig())
    assert {r["segment_id"] for r in rows(con)} == {"group-a"}
    assert result.cells == 2
    groups = con.execute("SELECT DISTINCT segment_id FROM issue_group_by_persona").fetchall()
    assert groups == [("group-a",)]


def test_a_single_customer_warehouse_gets_no_cells(con: duckdb.DuckDBPyConnection) -> None:
    build(con, [("t1", "a-0", 0), ("t2", "a-0", 1)])
    personas(con)
    result = link_issues(con, config=LinkConfig())
    assert (result.cells, rows(con)) == (0, [])


def test_a_one_customer_segment_has_a_defined_lift_and_is_no_finding(
    con: duckdb.DuckDBPyConnection,
) -> None:
    build(con, many("a", 1, lambda i, k: 0, per_customer=6) + many("b", 60, lambda i, k: i % 3))
    personas(con)
    link_issues(con, config=LinkConfig())
    found = {r["topic_id"]: r for r in rows(con)}
    for row in found.values():
        assert_defined(row)
        assert row["significant"] is False
    assert found[0]["lift"] == pytest.approx(1 / (20 / 60))
    assert found[1]["lift"] == 0.0 and found[1]["ci_high"] > 1  # type: ignore[operator]


def test_one_topic_for_everyone_is_a_lift_of_one_and_no_finding(
    con: duckdb.DuckDBPyConnection,
) -> None:
    build(con, many("a", 30, lambda i, k: 0, per_customer=2) + many("b", 90, lambda i, k: 0))
    personas(con)
    link_issues(con, config=LinkConfig())
    (row,) = rows(con)
    assert_defined(row)
    # One-sided: a lift of exactly 1 is no evidence of over-indexing (p above 1/2, q 1).
    assert row["lift"] == pytest.approx(1.0) and row["p_value"] > 0.5  # type: ignore[operator]
    assert row["q_value"] == pytest.approx(1.0)
    assert row["ci_low"] < 1 < row["ci_high"]  # type: ignore[operator]
    assert row["significant"] is False


def test_a_topic_only_the_segment_raises_has_a_finite_lift_and_a_positive_q(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # All 400 tickets of group a are on topic 2, which none of the 1,500 others raises:
    # share 1, baseline 0. Fisher's p underflows to 0 here; the cell is a clear finding.
    build(con, many("a", 200, lambda i, k: 2, per_customer=2) + many("b", 1500, lambda i, k: i % 2))
    personas(con)
    link_issues(con, config=LinkConfig())
    row = next(r for r in rows(con) if r["topic_id"] == 2)
    assert (row["share"], row["baseline_share"]) == (1.0, 0.0)
    assert_defined(row)
    assert row["lift"] == pytest.approx((400.5 / 401) / (0.5 / 1501))
    assert row["ci_low"] > 1 and row["q_value"] > 0  # type: ignore[operator]
    assert row["significant"] is True


def test_customers_all_alike_still_get_an_interval_not_a_point(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # Every group-a customer: 1 ticket on topic 0 of 2; every other customer: 1 of 4. The
    # clustered variance is exactly 0 on both sides, which would make the interval a point.
    tickets = many("a", 10, lambda i, k: 0 if k == 0 else 1, per_customer=2) + many(
        "b", 10, lambda i, k: 0 if k == 0 else 1, per_customer=4
    )
    build(con, tickets)
    personas(con)
    link_issues(con, config=LinkConfig())
    row = next(r for r in rows(con) if r["topic_id"] == 0)
    assert_defined(row)
    assert row["lift"] == pytest.approx(2.0)
    assert row["ci_low"] < 2.0 < row["ci_high"]  # type: ignore[operator]
