"""What a persona profile says in words: only what is measured, against one comparison group
(everyone else), and nothing that the data does not bear out.

A small hand-made warehouse: 30 free-plan customers ask about a student discount, 60 paid ones
about their login (six of them once about the discount too); no ticket says by which channel
it came; resolution times run to years.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from persona_mining.config import LinkConfig, NegativeConfig, PersonaRule
from persona_mining.personas.facts import problem_facts
from persona_mining.personas.link import link_issues
from persona_mining.personas.negative import assess_negative_personas
from persona_mining.personas.profiles import _behaviour_phrases, _outcome_phrase, build_profiles
from persona_mining.personas.segments import build_segments
from tests.synthetic import MODEL, Ticket, add_customers, add_model, add_tickets

PERSONAS = [
    PersonaRule(name="Free plan", where="plan = 'free'"),
    PersonaRule(name="Paid plan", where="plan = 'paid'", negative=True),
    PersonaRule(name="Nobody", where="plan = 'none'"),
    PersonaRule(name="Everyone", where="plan IS NOT NULL"),
]


def _ask(con: duckdb.DuckDBPyConnection, asked: list[tuple[str, str, str]]) -> None:
    """Question sentences (ticket, as written, as analysed): `ticket_questions` and their
    analysis, as the prepare stage and `analyse_shown` leave them."""
    positions: dict[str, int] = {}
    rows = []
    for ticket, written, analysed in asked:
        positions[ticket] = positions.get(ticket, -1) + 1
        rows.append((ticket, positions[ticket], written, f"q-{written}", analysed))
    con.register(
        "__asked",
        pa.table(
            {
                name: [r[i] for r in rows]
                for i, name in enumerate(["ticket_id", "position", "question", "hash", "text"])
            }
        ),
    )
    con.execute(
        """INSERT INTO ticket_questions (ticket_id, position, question, question_hash)
        SELECT ticket_id, position, question, hash FROM __asked"""
    )
    con.execute(
        """INSERT INTO text_analysis (text_hash, spacy_model, text, lemmas, noun_phrases,
            questions, analysed_at)
        SELECT DISTINCT hash, 'test', text, '', [], [], now() FROM __asked"""
    )
    con.unregister("__asked")


@pytest.fixture
def desk(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """The warehouse above, linked, assessed and profiled."""
    customers = [{"customer_id": f"f{i}", "plan": "free"} for i in range(30)]
    customers += [{"customer_id": f"p{i}", "plan": "paid"} for i in range(60)]
    add_customers(con, customers, {"plan": "VARCHAR"})
    add_model(con, {0: ("Student discount", ["student", "discount"]), 1: ("Login", ["password"])})
    start = datetime(2026, 1, 5, 9)
    tickets = []
    for c in customers:
        customer = str(c["customer_id"])
        free = c["plan"] == "free"
        for k in range(2):
            tickets.append(
                Ticket(
                    f"{customer}-{k}",
                    customer,
                    0 if free or (k == 0 and int(customer[1:]) < 6) else 1,
                    # Paid customers come back on their login within days: repeat contacts.
                    start + timedelta(days=(19 if free else 3) * k),
                    # The first ticket of the free plan says nothing; it sorts first.
                    ("[HANDLE] Ok thanks." if k == 0 else "Is there a student discount for me?")
                    if free
                    else "Reset my password please, it does not work.",
                    channel=None,  # type: ignore[arg-type]
                    extra={"resolution_hours": 30_000.0 if free else 21_000.0},
                )
            )
    add_tickets(con, tickets, {"resolution_hours": "DOUBLE"})
    asked = [
        ("f0-1", "@UniHelp Is there a student discount?", "[HANDLE] Is there a student discount?")
    ]
    asked += [
        ("f1-1", "@UniHelp is there a student discount", "[HANDLE] is there a student discount")
    ]
    asked += [("f2-1", "Is there a student discount?", "Is there a student discount?")]
    # One customer's question, twice: not common.
    flight = "Any updates on flight 6353 from DEN to BOS?"
    asked += [("f3-0", flight, flight), ("f3-1", flight, flight)]
    # A filler every ticket asks, on every issue alike.
    asked += [(t.ticket_id, "What are my options?", "What are my options?") for t in tickets]
    _ask(con, asked)
    build_segments(con, personas=PERSONAS)
    link_issues(con, config=LinkConfig())
    assess_negative_personas(con, config=NegativeConfig())
    build_profiles(con)
    return con


def _profile(con: duckdb.DuckDBPyConnection, persona: str) -> dict[str, Any]:
    cursor = con.execute("SELECT * FROM v_persona_profiles WHERE persona = ?", [persona])
    names = [d[0] for d in cursor.description]
    row = dict(zip(names, cursor.fetchone(), strict=True))  # type: ignore[arg-type]
    for key in ("challenges", "questions", "behaviours", "problems", "outcomes"):
        row[key] = json.loads(row[key])
    return row


def test_a_negative_persona_is_costlier_to_serve_by_what_is_measured_not_what_they_bring(
    desk: duckdb.DuckDBPyConnection,
) -> None:
    desk.execute("DELETE FROM segment_flags")  # declared, not assessed yet
    build_profiles(desk)
    summaries = [s for (s,) in desk.execute("SELECT summary FROM v_persona_profiles").fetchall()]
    assert not any("bring" in s for s in summaries)
    summary = _profile(desk, "Paid plan")["summary"]
    assert "costlier to serve than everyone else" in summary
    assert "tickets per customer, repeat contacts" in summary


def test_every_comparison_is_with_everyone_else_and_said_once(
    desk: duckdb.DuckDBPyConnection,
) -> None:
    profile = _profile(desk, "Free plan")
    summary = profile["summary"]
    assert summary.count("Compared with everyone else (the customers outside this persona)") == 1
    assert "all customers" not in summary and "for everyone else" not in summary
    assert "plan free 100% (vs 0%)" in summary
    # The repeat contacts and outcomes compare with the paid plan only, as the signals do.
    [(baseline,)] = desk.execute(
        """SELECT baseline FROM v_segment_signals
        WHERE persona = 'Free plan' AND signal = 'repeat_contacts'"""
    ).fetchall()
    assert profile["behaviours"]["repeat_contacts"]["everyone"]["share"] == pytest.approx(baseline)
    assert "come back on the same topic in 0% of tickets (vs 45%)" in summary
    [resolution] = profile["outcomes"]
    assert resolution["everyone"] == pytest.approx(21_000.0)
    [problem] = profile["problems"]
    assert problem["outcomes"][0]["everyone"] == pytest.approx(21_000.0)  # the six paid tickets


def test_no_channel_sentence_when_no_ticket_has_a_channel(desk: duckdb.DuckDBPyConnection) -> None:
    summary = _profile(desk, "Free plan")["summary"]
    assert "(unknown)" not in summary and "contact support" not in summary


def _channels(*shares: tuple[str, float, float]) -> dict[str, Any]:
    return {"channels": [{"value": v, "persona": p, "everyone": e} for v, p, e in shares]}


def test_a_channel_is_mostly_used_above_half_and_most_often_only_with_a_clear_lead() -> None:
    even = _channels(("Phone", 0.28, 0.25), ("Email", 0.27, 0.25), ("Chat", 0.24, 0.25))
    assert _behaviour_phrases(even) == []
    assert _behaviour_phrases(_channels(("chat", 0.6, 0.3), ("email", 0.4, 0.7))) == [
        "contact support mostly by chat (60% of their tickets vs 30%)"
    ]
    assert _behaviour_phrases(_channels(("chat", 0.42, 0.26), ("web", 0.33, 0.24))) == [
        "contact support most often by chat (42% of their tickets vs 26%)"
    ]
    assert _behaviour_phrases(_channels(("(unknown)", 1.0, 1.0))) == []
    same = _channels(("email", 0.7, 0.7), ("chat", 0.3, 0.3))
    assert _behaviour_phrases(same) == []


def test_a_behaviour_no_different_from_everyone_elses_is_left_out() -> None:
    assert _behaviour_phrases({"repeat_contacts": {"share": 0.0, "everyone": {"share": 0.0}}}) == []
    same = {"repeat_contacts": {"share": 0.031, "everyone": {"share": 0.0312}}}
    assert _behaviour_phrases(same) == []
    repeats = {"repeat_contacts": {"share": 0.0549, "everyone": {"share": 0.0209}}}
    assert _behaviour_phrases(repeats) == [
        "come back on the same topic in 5.5% of tickets (vs 2.1%)"
    ]


def test_outcomes_read_in_hours_or_days_never_in_scientific_notation(
    desk: duckdb.DuckDBPyConnection,
) -> None:
    summary = _profile(desk, "Free plan")["summary"]
    assert "resolution time 1,250 days (vs 875 days)" in summary
    assert "e+" not in summary

    def hours(persona: float, everyone: float) -> str:
        return _outcome_phrase(
            {"kind": "resolution_time", "unit": "hours", "persona": persona, "everyone": everyone}
        )

    assert hours(19.0, 20.9) == "resolution time 19.0 h (vs 20.9 h)"
    assert hours(21_400.0, 21_200.0) == "resolution time 892 days (vs 883 days)"
    recorded = {"kind": "resolution_time", "unit": "as recorded", "persona": 2.14e5}
    assert (
        _outcome_phrase({**recorded, "everyone": 2.12e5}) == "resolution time 214,000 (vs 212,000)"
    )


def test_common_questions_are_asked_by_several_customers_and_belong_to_the_issue(
    desk: duckdb.DuckDBPyConnection,
) -> None:
    """The handle is no part of the wording (three customers ask one question), one customer's
    question is not common however often asked, and a filler asked on every issue alike is
    no question of this one."""
    profile = _profile(desk, "Free plan")
    [challenge] = profile["challenges"]
    assert profile["questions"] == {
        str(challenge["topic_id"]): ["[HANDLE] Is there a student discount?"]
    }


def test_example_tickets_say_something(desk: duckdb.DuckDBPyConnection) -> None:
    [problem] = _profile(desk, "Free plan")["problems"]
    texts = [e["text"] for e in problem["examples"]]
    assert texts == ["Is there a student discount for me?"] * 3


def test_an_example_that_says_little_is_shown_only_where_none_says_more(
    desk: duckdb.DuckDBPyConnection,
) -> None:
    add_tickets(
        desk,
        [
            Ticket("t-0", "f0", 5, text="[HANDLE]"),
            Ticket("t-1", "f0", 5, text="[HANDLE] THE.. [URL]"),
        ],
    )
    challenges = {"free-plan": [{"topic_id": 5, "label": "Terse", "keywords": []}]}
    [problem] = problem_facts(desk, challenges, MODEL, [])["free-plan"]
    assert [e["text"] for e in problem["examples"]] == ["[HANDLE] THE.. [URL]"]


def test_a_persona_with_no_customer_or_every_customer_says_why_nothing_compares(
    desk: duckdb.DuckDBPyConnection,
) -> None:
    assert _profile(desk, "Nobody")["summary"] == (
        "Nobody: no customer matches this persona's rule (check `where`)."
    )
    assert _profile(desk, "Everyone")["summary"] == (
        "Everyone: 90 customers, 90 of whom contacted support. Every customer matches this "
        "persona: there is no one to compare it with."
    )
