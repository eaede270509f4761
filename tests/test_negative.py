"""Negative personas: cost-to-serve signals per customer and segment, hand-computed cases."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import duckdb
import pytest

from persona_mining import parallel
from persona_mining.config import NegativeConfig
from persona_mining.personas import negative
from persona_mining.personas.negative import assess_negative_personas, return_topic_pattern
from persona_mining.personas.outcomes import outcome_columns
from tests.synthetic import Ticket, add_customers, add_model, add_segment, add_tickets

Z95 = 1.959963984540054


def many_tickets(customer: str, n: int, **kwargs: object) -> list[Ticket]:
    return [Ticket(f"{customer}-{i}", customer, 0, **kwargs) for i in range(n)]  # type: ignore[arg-type]


def signal_rows(con: duckdb.DuckDBPyConnection, signal: str) -> dict[str, tuple[float, float]]:
    rows = con.execute(
        "SELECT customer_id, value, base FROM customer_signals WHERE signal = ?", [signal]
    ).fetchall()
    return {c: (v, b) for c, v, b in rows}


@pytest.fixture
def heavy_segment(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """10 segment customers with 4,4,4,4,4,2,2,2,2,2 tickets; 30 others with 2 x10, 1 x10, 0 x10."""
    inside = [f"s{i}" for i in range(10)]
    outside = [f"o{i}" for i in range(30)]
    add_customers(con, [{"customer_id": c} for c in inside + outside], {})
    tickets = []
    for i, c in enumerate(inside):
        tickets += many_tickets(c, 4 if i < 5 else 2)
    for i, c in enumerate(outside):
        tickets += many_tickets(c, 2 if i < 10 else 1 if i < 20 else 0)
    add_tickets(con, tickets)
    add_segment(con, "heavy", inside)
    return con


def test_tickets_per_customer_ratio_interval_and_test_are_the_hand_computed_ones(
    heavy_segment: duckdb.DuckDBPyConnection,
) -> None:
    assess_negative_personas(heavy_segment, config=NegativeConfig())
    row = heavy_segment.execute(
        """SELECT customers, value, baseline, ratio, ci_low, ci_high, p_value, q_value, worse
        FROM segment_signals WHERE signal = 'tickets_per_customer'"""
    ).fetchone()
    assert row is not None
    customers, value, baseline, ratio, low, high, p, q, worse = row
    # Means 3 and 1. Var(log mean) = sample variance / (m mean^2): (10/9)/(10*9) = 1/81 inside,
    # (20/29)/(30*1) = 2/87 outside.
    se = math.sqrt(1 / 81 + 2 / 87)
    assert (customers, value, baseline, ratio) == (10, 3.0, 1.0, pytest.approx(3.0))
    assert low == pytest.approx(3 * math.exp(-Z95 * se))
    assert high == pytest.approx(3 * math.exp(Z95 * se))
    assert p == pytest.approx(math.erfc(math.log(3) / se / math.sqrt(2)))
    assert q == pytest.approx(p)  # the only tested cell: the texts carry no sentiment
    assert worse is True


def test_a_segment_needs_min_signals_worse_signals_to_be_negative(
    heavy_segment: duckdb.DuckDBPyConnection,
) -> None:
    result = assess_negative_personas(heavy_segment, config=NegativeConfig(min_signals=2))
    assert result.negative == ()
    assert heavy_segment.execute(
        "SELECT negative, worse_signals FROM segment_flags"
    ).fetchone() == (False, 1)
    result = assess_negative_personas(heavy_segment, config=NegativeConfig(min_signals=1))
    assert result.negative == ("heavy",)
    drivers = json.loads(heavy_segment.execute("SELECT drivers FROM segment_flags").fetchone()[0])  # type: ignore[index]
    assert [d["signal"] for d in drivers] == ["tickets_per_customer"]
    assert drivers[0]["ratio"] == pytest.approx(3.0) and drivers[0]["ci_low"] > 1


def test_a_small_or_slightly_worse_segment_is_not_flagged(
    heavy_segment: duckdb.DuckDBPyConnection,
) -> None:
    assess_negative_personas(heavy_segment, config=NegativeConfig(min_signals=1, min_ratio=3.5))
    assert heavy_segment.execute("SELECT worse FROM segment_signals").fetchall() == [(False,)] * 2
    assess_negative_personas(heavy_segment, config=NegativeConfig(min_signals=1, min_customers=11))
    assert heavy_segment.execute("SELECT count(*) FROM segment_signals WHERE worse").fetchone() == (
        0,
    )


def test_one_chronic_complainer_never_makes_a_segment_worse(con: duckdb.DuckDBPyConnection) -> None:
    """Returns and refunds. Two segments of 8 customers: in one, a customer filed 60 tickets, 50
    of them refunds, and the others 5 tickets with no refund; in the other, every customer filed
    5 tickets, 4 of them refunds. Everyone else (80 customers): 5 tickets, 1 refund in 3."""
    chatty, spread = [f"s{i}" for i in range(8)], [f"t{i}" for i in range(8)]
    outside = [f"o{i}" for i in range(80)]
    add_customers(con, [{"customer_id": c} for c in chatty + spread + outside], {})
    add_model(con, {0: ("Order status", ["order"]), 1: ("Refund", ["refund"])})

    def filed(customer: str, tickets: int, refunds: int) -> list[Ticket]:
        return [Ticket(f"{customer}-{n}", customer, int(n < refunds)) for n in range(tickets)]

    tickets = filed("s0", 60, 50)
    for c in chatty[1:]:
        tickets += filed(c, 5, 0)
    for c in spread:
        tickets += filed(c, 5, 4)
    for i, c in enumerate(outside):
        tickets += filed(c, 5, int(i % 3 == 0))
    add_tickets(con, tickets)
    add_segment(con, "chatty", chatty)
    add_segment(con, "spread", spread)
    assess_negative_personas(con, config=NegativeConfig(min_signals=1))
    rows = con.execute(
        """SELECT segment_id, ratio, ci_low, worse FROM segment_signals
        WHERE signal = 'returns_refunds_complaints' ORDER BY segment_id"""
    ).fetchall()
    (_, ratio, low, worse), (_, _, _, spread_worse) = rows
    assert ratio > 3 and low > 1  # worse on its face, by one customer alone
    assert worse is False and spread_worse is True


def test_a_flagged_discovered_segment_takes_kind_negative_and_a_rule_keeps_its_kind(
    heavy_segment: duckdb.DuckDBPyConnection,
) -> None:
    members = [f"s{i}" for i in range(10)]
    add_segment(heavy_segment, "discovered-1", members, kind="discovered")
    assess_negative_personas(heavy_segment, config=NegativeConfig(min_signals=1))
    kinds = dict(heavy_segment.execute("SELECT segment_id, kind FROM segments").fetchall())
    assert kinds == {"heavy": "rule", "discovered-1": "negative"}
    assess_negative_personas(heavy_segment, config=NegativeConfig(min_signals=1, min_ratio=10))
    kinds = dict(heavy_segment.execute("SELECT segment_id, kind FROM segments").fetchall())
    assert kinds == {"heavy": "rule", "discovered-1": "discovered"}


def test_each_signal_is_measured_per_customer_as_defined(con: duckdb.DuckDBPyConnection) -> None:
    add_customers(con, [{"customer_id": c} for c in ("a", "b", "c")], {})
    add_model(con, {0: ("Refund delay", ["refund", "money back"]), 1: ("Login", ["password"])})
    day = datetime(2026, 1, 1, 9)
    resolved = {"time_to_resolution": "TIMESTAMP", "csat": "DOUBLE", "escalated": "VARCHAR"}
    add_tickets(
        con,
        [
            Ticket(
                "a1",
                "a",
                0,
                day,
                "This is terrible, I hate waiting for my refund.",
                extra={
                    "csat": 1,
                    "escalated": "yes",
                    "time_to_resolution": day + timedelta(hours=10),
                },
            ),
            Ticket("a2", "a", 0, day + timedelta(days=5), extra={"csat": 2, "escalated": "no"}),
            Ticket("a3", "a", 0, day + timedelta(days=40), extra={"csat": 5}),
            Ticket("a4", "a", 1, day + timedelta(days=41), extra={"escalated": "No"}),
            Ticket("a5", "a", -1, day + timedelta(days=42), extra={"csat": 4}),
            Ticket(
                "b1",
                "b",
                1,
                day,
                "Thanks, great help!",
                extra={"csat": 5, "time_to_resolution": day - timedelta(hours=1)},
            ),
        ],
        resolved,
    )
    result = assess_negative_personas(con, config=NegativeConfig())
    assert set(result.signals) == {
        "tickets_per_customer",
        "repeat_contacts",
        "returns_refunds_complaints",
        "negative_sentiment",
        "low_csat",
        "escalated",
        "resolution_time",
    }
    assert signal_rows(con, "tickets_per_customer") == {"a": (5, 1), "b": (1, 1), "c": (0, 1)}
    # a2 follows a1 on the same topic within 14 days; a3 comes 35 days after a2.
    assert signal_rows(con, "repeat_contacts") == {"a": (1, 4), "b": (0, 1)}
    assert signal_rows(con, "returns_refunds_complaints") == {"a": (3, 5), "b": (0, 1)}
    assert signal_rows(con, "negative_sentiment") == {"a": (1, 5), "b": (0, 1)}
    # Ratings 1..5: low is 1 + 0.4 * (5 - 1) = 2.6 or below.
    assert signal_rows(con, "low_csat") == {"a": (2, 4), "b": (0, 1)}
    assert signal_rows(con, "escalated") == {"a": (1, 3)}
    # A resolution before the ticket was created is unknown, not negative.
    assert signal_rows(con, "resolution_time") == {"a": (10, 1)}
    assert result.scored == 6


def test_sentiment_is_scored_once_per_text(con: duckdb.DuckDBPyConnection) -> None:
    add_customers(con, [{"customer_id": "a"}], {})
    add_tickets(con, [Ticket("a1", "a", 0, text="Awful.")])
    assert assess_negative_personas(con, config=NegativeConfig()).scored == 1
    assert assess_negative_personas(con, config=NegativeConfig()).scored == 0
    assert con.execute("SELECT count(*) FROM ticket_sentiment").fetchone() == (1,)


def test_worker_processes_score_sentiment_as_this_process_does(
    con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_customers(con, [{"customer_id": "a"}], {})
    texts = ["Awful, broken again.", "Thanks, that was great!", "Where is my parcel?"]
    add_tickets(con, [Ticket(f"a{i}", "a", 0, text=t) for i, t in enumerate(texts)])
    scores = "SELECT text_hash, compound FROM ticket_sentiment ORDER BY text_hash"
    assert assess_negative_personas(con, config=NegativeConfig(), processes=1).scored == 3
    here = con.execute(scores).fetchall()
    con.execute("DELETE FROM ticket_sentiment")
    # one text per chunk: three chunks over two processes, in order
    monkeypatch.setattr(parallel, "SENTIMENT_PARALLEL_FROM", 1)
    monkeypatch.setattr(negative, "_SENTIMENT_CHUNK", 1)
    assert assess_negative_personas(con, config=NegativeConfig(), processes=2).scored == 3
    assert con.execute(scores).fetchall() == here
    assert len({compound for _, compound in here}) == 3


def test_return_keywords_match_word_starts_in_any_case() -> None:
    pattern = return_topic_pattern(["Return", "refund"])
    con = duckdb.connect()
    matches = [
        con.execute("SELECT regexp_matches(lower(?), ?)", [text, pattern]).fetchone()[0]  # type: ignore[index]
        for text in ("Returning an item", "refund delay", "no refunds here", "overreturn")
    ]
    assert matches == [True, True, True, False]


def test_a_return_word_among_a_topics_side_keywords_does_not_make_it_a_return_topic(
    con: duckdb.DuckDBPyConnection,
) -> None:
    add_customers(con, [{"customer_id": c} for c in ("a", "b")], {})
    add_model(
        con,
        {
            # "refund difference" is the eighth keyword of price-match requests: a side remark
            0: (
                "Price match request",
                [
                    "cheap",
                    "difference",
                    "drop",
                    "buy",
                    "right",
                    "website",
                    "x",
                    "refund difference",
                ],
            ),
            1: ("Customer service", ["answer", "service", "unhappy", "complaint", "bad"]),
            2: ("Parcel damaged", ["damage", "box"]),
        },
    )
    add_tickets(con, [Ticket("a1", "a", 0), Ticket("a2", "a", 1), Ticket("b1", "b", 2)])
    assess_negative_personas(con, config=NegativeConfig())
    # a's complaint (a leading keyword) counts, its price match does not; b has neither.
    assert signal_rows(con, "returns_refunds_complaints") == {"a": (1, 2), "b": (0, 1)}


def test_outcome_columns_are_recognised_by_name_and_type(con: duckdb.DuckDBPyConnection) -> None:
    for name, dtype in {
        "customer_satisfaction_rating": "DOUBLE",
        "csat_comment": "VARCHAR",
        "resolution": "VARCHAR",
        "time_to_resolution": "TIMESTAMP",
        "reopen_count": "INTEGER",
        "escalated": "BOOLEAN",
    }.items():
        con.execute(f"ALTER TABLE tickets ADD COLUMN {name} {dtype}")
    found = {o.kind: o.column for o in outcome_columns(con)}
    assert found == {
        "csat": "customer_satisfaction_rating",
        "resolution_time": "time_to_resolution",
        "reopened": "reopen_count",
        "escalated": "escalated",
    }
