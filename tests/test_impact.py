"""What each issue costs each persona: hand-computed cases on small warehouses."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest

from persona_mining.config import LinkConfig
from persona_mining.personas.impact import NO_OUTCOME_COLUMNS, measure_issue_impact
from tests.synthetic import Ticket, add_customers, add_model, add_segment, add_tickets

Z95 = 1.959963984540054
DAY = datetime(2026, 1, 1, 9)


def impact_row(con: duckdb.DuckDBPyConnection, segment: str, topic: int) -> dict[str, object]:
    cursor = con.execute(
        "SELECT * FROM v_issue_impact WHERE segment_id = ? AND topic_id = ?", [segment, topic]
    )
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    assert len(rows) == 1
    return dict(zip(names, rows[0], strict=True))


def rated(
    customer: str,
    i: int,
    topic: int,
    csat: float | None,
    hours: float,
    reopened: bool,
    day: int = 0,
) -> Ticket:
    return Ticket(
        f"{customer}-{i}",
        customer,
        topic,
        DAY + timedelta(days=day),
        extra={"csat": csat, "resolution_hours": hours, "reopened": reopened},
    )


OUTCOME_TYPES = {"csat": "INTEGER", "resolution_hours": "DOUBLE", "reopened": "BOOLEAN"}


@pytest.fixture
def desk(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Persona p (p0..p5) suffers topic 1 (CSAT 1, 50 h); everyone else rates it 4, 10 h."""
    inside = [f"p{i}" for i in range(6)]
    outside = [f"o{i}" for i in range(8)]
    add_customers(con, [{"customer_id": c} for c in inside + outside], {})
    add_model(con, {0: ("Order status", ["order"]), 1: ("Delivery slot", ["slot"])})
    tickets = []
    for k, c in enumerate(inside):
        tickets += [rated(c, 0, 0, 5, 8.0, False), rated(c, 1, 0, 4 + k % 2, 12.0, False)]
        tickets += [rated(c, 2, 1, 1 + (k % 3 == 0), 50.0 + k, k % 2 == 0, day=1)]
        if k < 3:  # a repeat contact on topic 1 within 14 days
            tickets.append(rated(c, 3, 1, 1, 60.0, True, day=3))
    for k, c in enumerate(outside):
        tickets += [rated(c, 0, 0, 4 + k % 2, 9.0, False), rated(c, 1, 1, 4, 10.0 + k, False)]
    add_tickets(con, tickets, OUTCOME_TYPES)
    add_segment(con, "p", inside, name="Parents")
    return con


def per_customer(con: duckdb.DuckDBPyConnection, members: list[str], topic: int) -> np.ndarray:
    """(Y_c, N_c, y_ct, n_ct) of each member's CSAT, straight from the tickets."""
    rows = []
    for c in members:
        y, n, yt, nt = con.execute(
            """SELECT sum(t.csat), count(t.csat),
                coalesce(sum(t.csat) FILTER (WHERE tt.topic_id = ?), 0),
                count(t.csat) FILTER (WHERE tt.topic_id = ?)
            FROM tickets t JOIN ticket_topics tt USING (ticket_id) WHERE t.customer_id = ?""",
            [topic, topic, c],
        ).fetchone()  # type: ignore[misc]
        rows.append((y, n, yt, nt))
    return np.asarray(rows, float)


def test_csat_impact_is_the_mean_without_the_issue_minus_the_mean_with_all(
    desk: duckdb.DuckDBPyConnection,
) -> None:
    measure_issue_impact(desk, config=LinkConfig())
    row = impact_row(desk, "p", 1)
    d = per_customer(desk, [f"p{i}" for i in range(6)], 1)
    y, n, yt, nt = d.sum(axis=0)
    mean_all, mean_wo = y / n, (y - yt) / (n - nt)
    assert row["csat_impact"] == pytest.approx(mean_wo - mean_all)
    assert row["impact_measure"] == "csat" and row["impact"] == pytest.approx(mean_wo - mean_all)
    # The clustered interval: each customer's influence on the two means, summed over customers.
    influence = (d[:, 0] - d[:, 2] - mean_wo * (d[:, 1] - d[:, 3])) / (n - nt) - (
        d[:, 0] - mean_all * d[:, 1]
    ) / n
    se = math.sqrt(6 / 5 * (influence**2).sum())
    assert row["csat_impact_low"] == pytest.approx(mean_wo - mean_all - Z95 * se)
    assert row["csat_impact_high"] == pytest.approx(mean_wo - mean_all + Z95 * se)
    assert row["costly"] is True


def test_csat_on_the_issue_is_compared_with_everyone_else_on_the_same_issue(
    desk: duckdb.DuckDBPyConnection,
) -> None:
    measure_issue_impact(desk, config=LinkConfig())
    row = impact_row(desk, "p", 1)
    persona = [2, 1, 1, 2, 1, 1, 1, 1, 1]  # topic-1 ratings of p0..p5, then the repeats
    assert row["csat_tickets"] == 9
    assert row["csat"] == pytest.approx(sum(persona) / 9)
    assert row["csat_others"] == pytest.approx(4.0)
    assert row["csat_diff"] == pytest.approx(sum(persona) / 9 - 4.0)
    assert row["csat_diff_low"] < row["csat_diff"] < row["csat_diff_high"] < 0  # type: ignore[operator]


def test_resolution_hours_have_total_median_mean_and_a_difference(
    desk: duckdb.DuckDBPyConnection,
) -> None:
    measure_issue_impact(desk, config=LinkConfig())
    row = impact_row(desk, "p", 1)
    hours = [50.0 + k for k in range(6)] + [60.0] * 3
    assert row["resolution_tickets"] == 9
    assert row["resolution_hours_total"] == pytest.approx(sum(hours))
    assert row["resolution_hours_median"] == pytest.approx(float(np.median(hours)))
    assert row["resolution_hours"] == pytest.approx(sum(hours) / 9)
    assert row["resolution_hours_others"] == pytest.approx(np.mean([10.0 + k for k in range(8)]))
    assert row["resolution_hours_diff_low"] > 30  # type: ignore[operator]
    assert row["resolution_hours_impact"] > 0  # type: ignore[operator]


def test_repeat_contacts_and_reopens_are_rates_of_the_persona_tickets_on_the_issue(
    desk: duckdb.DuckDBPyConnection,
) -> None:
    measure_issue_impact(desk, config=LinkConfig())
    row = impact_row(desk, "p", 1)
    assert (row["tickets"], row["customers"], row["segment_tickets"]) == (9, 6, 21)
    assert row["share"] == pytest.approx(9 / 21)
    assert row["share_low"] < 9 / 21 < row["share_high"]  # type: ignore[operator]
    assert row["repeat_contacts"] == 3 and row["repeat_rate"] == pytest.approx(3 / 9)
    assert row["repeat_rate_others"] == 0.0
    assert row["reopen_rate"] == pytest.approx(6 / 9)  # p0, p2, p4 and the three repeats
    assert row["reopen_rate_others"] == 0.0
    assert 0 <= row["reopen_rate_low"] <= row["reopen_rate_high"] <= 1  # type: ignore[operator]


def test_without_outcome_columns_rows_say_so_and_have_no_impact(
    con: duckdb.DuckDBPyConnection,
) -> None:
    add_customers(con, [{"customer_id": c} for c in ("a", "b", "c", "d")], {})
    add_model(con, {0: ("Order status", ["order"])})
    add_tickets(con, [Ticket(f"{c}{i}", c, 0) for c in "abcd" for i in range(2)])
    add_segment(con, "s", ["a", "b"])
    result = measure_issue_impact(con, config=LinkConfig())
    assert result.headline is None and result.cells == 1
    row = impact_row(con, "s", 0)
    assert row["impact"] is None and row["outcome_note"] == NO_OUTCOME_COLUMNS
    assert row["tickets"] == 4 and row["share"] == 1.0


def test_an_issue_no_persona_ticket_rated_says_so_and_is_listed_after_the_ranked_ones(
    con: duckdb.DuckDBPyConnection,
) -> None:
    add_customers(con, [{"customer_id": c} for c in ("a", "b", "c", "d")], {})
    add_model(con, {0: ("Order status", ["order"]), 1: ("Refund", ["refund"])})
    tickets = []
    for c in "abcd":
        tickets += [
            Ticket(f"{c}0", c, 0, extra={"csat": 2 if c in "ab" else 5}),
            Ticket(f"{c}1", c, 0, extra={"csat": 5}),
            Ticket(f"{c}2", c, 1, extra={"csat": None}),
        ]
    add_tickets(con, tickets, {"csat": "INTEGER"})
    add_segment(con, "s", ["a", "b"])
    measure_issue_impact(con, config=LinkConfig())
    rows = con.execute(
        "SELECT topic_id, impact, outcome_note FROM v_issue_impact WHERE segment_id = 's'"
    ).fetchall()
    assert [r[0] for r in rows] == [0, 1]
    assert rows[1][1] is None and rows[1][2] == "no csat on the persona's tickets of this issue"


def test_impact_is_rebuilt_not_appended(desk: duckdb.DuckDBPyConnection) -> None:
    first = measure_issue_impact(desk, config=LinkConfig())
    second = measure_issue_impact(desk, config=LinkConfig())
    assert (
        first.cells
        == second.cells
        == desk.execute("SELECT count(*) FROM issue_impact").fetchone()[0]
    )  # type: ignore[index]


def test_the_clustered_impact_interval_agrees_with_a_cluster_bootstrap(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rng = random.Random(3)
    members = [f"p{i}" for i in range(60)]
    add_customers(con, [{"customer_id": c} for c in [*members, "o1", "o2", "o3"]], {})
    add_model(con, {0: ("Order status", ["order"]), 1: ("Delivery slot", ["slot"])})
    tickets = []
    for c in members:
        mood = rng.choice((-1, 0, 1))  # correlated ratings within a customer
        for i in range(rng.randint(1, 6)):
            topic = int(rng.random() < 0.3)
            csat = min(5, max(1, (2 if topic else 4) + mood + rng.choice((-1, 0, 0, 1))))
            tickets.append(rated(c, i, topic, csat, 10.0, False))
    tickets += [rated(c, 0, 1, 4, 10.0, False) for c in ("o1", "o2", "o3")]
    add_tickets(con, tickets, OUTCOME_TYPES)
    add_segment(con, "p", members)
    measure_issue_impact(con, config=LinkConfig())
    row = impact_row(con, "p", 1)
    d = per_customer(con, members, 1)
    boot = np.random.default_rng(0)
    effects = []
    for _ in range(2000):
        s = d[boot.integers(0, len(d), len(d))].sum(axis=0)
        effects.append((s[0] - s[2]) / (s[1] - s[3]) - s[0] / s[1])
    low, high = np.percentile(effects, [2.5, 97.5])
    width = row["csat_impact_high"] - row["csat_impact_low"]  # type: ignore[operator]
    assert width == pytest.approx(high - low, rel=0.2)


def test_the_report_says_when_the_tickets_have_no_outcome_columns(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    from persona_mining.report.html import write_report

    add_customers(con, [{"customer_id": c} for c in ("a", "b", "c", "d")], {})
    add_model(con, {0: ("Order status", ["order"])})
    add_tickets(con, [Ticket(f"{c}{i}", c, 0) for c in "abcd" for i in range(2)])
    add_segment(con, "s", ["a", "b"])
    out = tmp_path / "report.html"
    write_report(con, out=out)
    assert "Not measured yet" in out.read_text(encoding="utf-8")
    measure_issue_impact(con, config=LinkConfig())
    write_report(con, out=out)
    section = out.read_text(encoding="utf-8").split('id="fix-first"', 1)[1].split("</section>")[0]
    assert "The tickets have no outcome columns" in section


def test_a_figure_resting_on_too_few_customers_has_no_interval(
    desk: duckdb.DuckDBPyConnection,
) -> None:
    measure_issue_impact(desk, config=LinkConfig(min_customers=7))
    row = impact_row(desk, "p", 1)
    assert row["csat"] is not None and row["csat_low"] is None and row["csat_diff_low"] is None
    assert row["impact"] is not None and row["impact_low"] is None and row["costly"] is False
