"""Persona profiles: who they are, behaviours, problems with examples and outcomes, summary.

A small hand-made warehouse for the exact numbers; the demo warehouse (built once per session)
for the negative personas and the profiles of the planted personas.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import duckdb
import pytest

from persona_mining import warehouse as db
from persona_mining.config import LinkConfig, NegativeConfig, PersonaRule
from persona_mining.personas.link import link_issues
from persona_mining.personas.negative import assess_negative_personas
from persona_mining.personas.profiles import build_profiles
from persona_mining.personas.segments import build_segments
from tests.synthetic import Ticket, add_customers, add_model, add_tickets


@pytest.fixture
def free_plan(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """30 free-plan customers (chat, topic 0, CSAT 2) and 60 paid ones (email, CSAT 4) on topic 1
    but for the first ticket of six of them, on topic 0."""
    customers = [{"customer_id": f"f{i}", "plan": "free", "age": 20 + i % 5} for i in range(30)]
    customers += [{"customer_id": f"p{i}", "plan": "paid", "age": 40 + i % 5} for i in range(60)]
    add_customers(con, customers, {"plan": "VARCHAR", "age": "INTEGER"})
    add_model(con, {0: ("Student discount", ["student", "discount"]), 1: ("Login", ["password"])})
    start = datetime(2026, 1, 5, 9)  # a Monday morning
    tickets = []
    for c in customers:
        free = c["plan"] == "free"
        for k in range(2):
            tickets.append(
                Ticket(
                    f"{c['customer_id']}-{k}",
                    str(c["customer_id"]),
                    0 if free or (k == 0 and int(str(c["customer_id"])[1:]) < 6) else 1,
                    start + timedelta(days=19 * k),
                    "Is there a student discount? Write to [EMAIL]."
                    if free
                    else "Reset my password?",
                    channel="chat" if free else "email",
                    extra={"csat": 2 if free else 4},
                    body="Is there a student discount? Write to jane@example.com."
                    if free
                    else None,
                )
            )
    add_tickets(con, tickets, {"csat": "DOUBLE"})
    build_segments(con, personas=[PersonaRule(name="Free plan", where="plan = 'free'")])
    link_issues(con, config=LinkConfig())
    assess_negative_personas(con, config=NegativeConfig())
    build_profiles(con)
    cursor = con.execute("SELECT * FROM v_persona_profiles")
    names = [d[0] for d in cursor.description]
    row = dict(zip(names, cursor.fetchone(), strict=True))  # type: ignore[arg-type]
    for key in ("attributes", "behaviours", "problems", "outcomes", "negative_drivers"):
        row[key] = json.loads(row[key])
    return row


def test_who_they_are_ranks_the_attributes_that_set_them_apart(
    free_plan: dict[str, object],
) -> None:
    attributes = free_plan["attributes"]
    assert [a["attribute"] for a in attributes] == ["plan", "age"]  # type: ignore[union-attr]
    plan, age = attributes  # type: ignore[misc]
    # "everyone" is everyone else: the 60 customers outside the persona, none on the free plan.
    assert (plan["value"], plan["persona"], plan["everyone"]) == ("free", 1.0, 0.0)
    assert plan["top"][0] == {"value": "free", "persona": 1.0, "everyone": 0.0}
    assert age["persona_mean"] == pytest.approx(22.0)
    assert age["everyone_mean"] == pytest.approx(42.0)
    assert age["std_diff"] < 0


def test_behaviours_compare_channels_timing_and_contacts_with_everyone(
    free_plan: dict[str, object],
) -> None:
    behaviours = free_plan["behaviours"]
    assert behaviours["channels"][0] == {  # type: ignore[index]
        "value": "chat",
        "persona": 1.0,
        "everyone": 0.0,
    }
    assert behaviours["contact"]["tickets_per_customer"] == 2.0  # type: ignore[index]
    assert behaviours["contact"]["everyone"]["contacting_share"] == 1.0  # type: ignore[index]
    morning = {p["value"]: p["persona"] for p in behaviours["time_of_day"]}["morning"]  # type: ignore[index]
    weekday = {p["value"]: p["persona"] for p in behaviours["day_of_week"]}["weekday"]  # type: ignore[index]
    assert (morning, weekday) == (1.0, pytest.approx(0.5))  # Mondays, then Saturdays 19 days on
    assert behaviours["repeat_contacts"] == {"share": 0.0, "everyone": {"share": 0.0}}  # type: ignore[index]


def test_problems_show_redacted_examples_and_outcomes_against_everyone(
    free_plan: dict[str, object],
) -> None:
    challenges = json.loads(str(free_plan["challenges"]))
    problems = free_plan["problems"]
    assert [p["topic_id"] for p in problems] == [c["topic_id"] for c in challenges] == [0]  # type: ignore[union-attr]
    problem = problems[0]  # type: ignore[index]
    assert problem["label"] == "Student discount" and problem["keywords"] == ["student", "discount"]
    assert len(problem["examples"]) == 3
    assert all("[EMAIL]" in e["text"] and "@" not in e["text"] for e in problem["examples"])
    assert problem["outcomes"] == [
        {
            "column": "csat",
            "kind": "csat",
            "unit": "rating",
            "higher_is_better": True,
            "persona": 2.0,
            "everyone": pytest.approx(4.0),
            "tickets": 60,
        }
    ]
    [csat] = free_plan["outcomes"]  # type: ignore[misc]
    assert (csat["persona"], csat["everyone"]) == (2.0, pytest.approx(4.0))


def test_the_summary_is_built_from_the_facts(free_plan: dict[str, object]) -> None:
    summary = str(free_plan["summary"])
    assert summary.startswith("Free plan: 30 customers")
    assert "Compared with everyone else (the customers outside this persona)" in summary
    assert "plan free 100% (vs 0%)" in summary
    assert "mostly by chat (100% of their tickets vs 0%)" in summary
    assert "Student discount" in summary and "satisfaction 2.00 (vs 4.00)" in summary
    assert free_plan["negative"] is False and free_plan["negative_drivers"] == []


@pytest.mark.slow
def test_the_demo_serial_returner_is_the_only_negative_persona(
    demo_run: dict[str, object],
) -> None:
    con = db.connect(demo_run["config"].warehouse.path, read_only=True)  # type: ignore[attr-defined]
    flags = {
        persona: (negative, [d["signal"] for d in json.loads(drivers)])
        for persona, negative, drivers in con.execute(
            "SELECT persona, negative, negative_drivers FROM v_persona_profiles"
        ).fetchall()
    }
    summary = con.execute(
        "SELECT summary FROM v_persona_profiles WHERE persona = 'Serial returner'"
    ).fetchone()
    con.close()
    assert {p for p, (negative, _) in flags.items() if negative} == {"Serial returner"}
    assert {"tickets_per_customer", "returns_refunds_complaints"} <= set(
        flags["Serial returner"][1]
    )
    assert summary is not None and "flags them as a negative persona" in summary[0]


@pytest.mark.slow
def test_demo_profiles_describe_who_how_and_the_problems_behind(
    demo_run: dict[str, object],
) -> None:
    con = db.connect(demo_run["config"].warehouse.path, read_only=True)  # type: ignore[attr-defined]
    rows = con.execute(
        "SELECT persona, attributes, behaviours, problems, challenges FROM v_persona_profiles"
    ).fetchall()
    members = {
        (segment, customer)
        for segment, customer in con.execute(
            "SELECT s.name, cs.customer_id FROM customer_segments cs JOIN segments s USING (segment_id)"
        ).fetchall()
    }
    owner = dict(con.execute("SELECT ticket_id, customer_id FROM tickets").fetchall())
    con.close()
    profiles = {r[0]: [json.loads(v) for v in r[1:]] for r in rows}
    attributes, behaviours, problems, challenges = profiles["Budget-conscious college student"]
    top = {a["attribute"]: a for a in attributes[:2]}
    assert "occupation" in top
    assert top["occupation"]["value"] == "student" and top["occupation"]["persona"] == 1.0
    assert top["occupation"]["everyone"] < 0.1  # the rule's own attribute: hardly anyone else
    (other,) = [a for name, a in top.items() if name != "occupation"]
    assert abs(other["persona"] - other["everyone"]) > 0.3
    assert {"contact", "channels", "time_of_day", "day_of_week", "repeat_contacts"} <= set(
        behaviours
    )
    for persona, (_, _, problems, challenges) in profiles.items():
        assert [p["topic_id"] for p in problems] == [c["topic_id"] for c in challenges]
        for problem in problems:
            assert problem["keywords"] and 1 <= len(problem["examples"]) <= 3
            for example in problem["examples"]:
                assert (persona, owner[example["ticket_id"]]) in members
                assert "@" not in example["text"] and len(example["text"]) <= 300
