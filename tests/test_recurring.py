"""Recurring and emerging issues on hand-built data: repeat contacts, growth test, new topics."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import duckdb
import pytest
from rich.console import Console

from persona_mining.config import TrendsConfig
from persona_mining.report.queries import ISSUE_STATUS_COLUMNS, issue_status
from persona_mining.report.terminal import issue_status_output
from persona_mining.topics.trends import compute_trends

END = datetime(2026, 3, 31, 12)


def build(
    con: duckdb.DuckDBPyConnection, tickets: list[tuple[str, str | None, int, datetime]]
) -> None:
    con.executemany(
        "INSERT INTO tickets (ticket_id, customer_id, created_at, updated_at, body, source, raw_hash, row_hash, ingested_at) "
        "VALUES (?, ?, ?, ?, 'x', 's', 'h', 'h', now())",
        [[t, c, when, when] for t, c, _, when in tickets],
    )
    con.execute(
        "INSERT INTO topic_models (model_id, created_at, path, embedding_model, n_tickets, n_topics, params) "
        "VALUES ('m0', now() - INTERVAL 9 DAY, '/nowhere', 'e', 1, 1, '{}'), ('m1', now(), '/nowhere', 'e', 1, 2, '{}')"
    )
    con.executemany(
        "INSERT INTO topics (model_id, topic_id, label, keywords, size, topic_key, first_model_id) VALUES ('m1', ?, ?, [], 0, ?, ?)",
        [
            [0, "steady", "T0001", "m0"],
            [1, "rising", "T0002", "m0"],
            [2, "brand new", "T0003", "m1"],
        ],
    )
    con.executemany(
        "INSERT INTO ticket_topics (ticket_id, model_id, topic_id, probability, text_hash) VALUES (?, 'm1', ?, 1.0, 'h')",
        [[t, topic] for t, _, topic, _ in tickets],
    )


def status(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, object]]:
    cursor = con.execute("SELECT * FROM v_issue_status")
    names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def test_a_topic_that_grows_significantly_is_emerging_and_a_steady_one_is_not(
    con: duckdb.DuckDBPyConnection,
) -> None:
    tickets = []
    for day in range(56):
        when = END - timedelta(days=day)
        tickets += [(f"s{day}-{k}", f"c{day}-{k}", 0, when) for k in range(5)]  # steady: 5 a day
        if day < 28:
            tickets += [
                (f"r{day}-{k}", f"d{day}-{k}", 1, when) for k in range(3)
            ]  # rising: recent only
        elif day % 7 == 0:
            tickets.append((f"r{day}", f"d{day}", 1, when))
    build(con, tickets)
    result = compute_trends(con, config=TrendsConfig())
    rows = status(con)
    assert rows["rising"]["emerging"] is True and rows["rising"]["growth"] > 1.5
    assert rows["steady"]["emerging"] is False
    assert rows["brand new"]["new_topic"] is True and rows["brand new"]["emerging"] is True
    assert result.emerging == 2 and result.weeks >= 8
    # trends --status: the view's own columns in JSON, a short flag in the terminal table
    listed = json.loads(str(issue_status_output(issue_status(con), "json")))
    assert {r["issue"]: (r["emerging"], r["new_topic"]) for r in listed} == {
        "rising": (True, False),
        "brand new": (True, True),
        "steady": (False, False),
    }
    assert set(listed[0]) == set(ISSUE_STATUS_COLUMNS)
    table = Console(width=100, record=True)
    table.print(issue_status_output(issue_status(con), "table"))
    flags = {line.split()[0]: line.split()[-1] for line in table.export_text().splitlines()}
    assert flags["rising"] == "rising" and flags["brand"] == "new"


def test_repeat_contacts_count_the_same_customer_on_the_same_topic_within_the_window(
    con: duckdb.DuckDBPyConnection,
) -> None:
    tickets = [
        ("a1", "c1", 0, END - timedelta(days=20)),
        ("a2", "c1", 0, END - timedelta(days=10)),  # repeat: 10 days after a1
        ("a3", "c1", 0, END - timedelta(days=-1)),  # 11 days after a2: repeat again
        ("a4", "c1", 1, END - timedelta(days=9)),  # other topic: not a repeat
        ("a5", "c2", 0, END - timedelta(days=60)),
        ("a6", "c2", 0, END - timedelta(days=30)),  # 30 days later: not a repeat
        ("a7", None, 0, END - timedelta(days=29)),  # anonymous: never a repeat
    ]
    build(con, tickets)
    compute_trends(con, config=TrendsConfig(repeat_days=14))
    rows = status(con)
    assert rows["steady"]["repeat_contacts"] == 2 and rows["steady"]["tickets"] == 6
    assert rows["steady"]["repeat_rate"] == pytest.approx(2 / 6)
    # c1 and c2 wrote in five different weeks: two customers, not one per week.
    assert rows["steady"]["customers"] == 2
    # A topic merged away (or split) holds no tickets: it is not an issue to watch.
    con.execute("UPDATE topics SET active = false WHERE topic_id = 2").fetchall()
    compute_trends(con, config=TrendsConfig(repeat_days=14))
    assert "brand new" in rows and "brand new" not in status(con)
    weekly = con.execute("SELECT sum(tickets) FROM v_topic_trends WHERE topic_id = 0").fetchone()
    assert weekly == (6,)
