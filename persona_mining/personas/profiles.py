"""Stage 7, personas: one profile per segment, built from the evidence of the earlier stages.

A profile says who the persona is (size, the attributes that set it apart from everyone else),
how it contacts support (channels, frequency, time of day and week, repeat contacts), its
challenges (significantly over-indexed issues, with lift, interval and q-value), the questions
it asks about each, the problems behind them (topic keywords, typical redacted tickets, and
outcomes such as CSAT or resolution time where the tickets have them), whether the data flags
it as a negative persona and why, and a templated plain-language summary of those facts.
Every comparison is with everyone else, the customers outside the persona, as in the link and
negative stages. Nothing is claimed that the stored statistics do not back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from persona_mining.personas.facts import (
    EVERYONE,
    attribute_facts,
    behaviour_facts,
    challenge_pairs,
    contact_counts,
    outcome_facts,
    problem_facts,
)
from persona_mining.personas.outcomes import outcome_columns
from persona_mining.personas.shown import common_questions_sql
from persona_mining.topics.model import current_model
from persona_mining.warehouse import transaction

MAX_CHALLENGES = 5
QUESTIONS_PER_CHALLENGE = 3
SUMMARY_ATTRIBUTES = 2
MIN_SUMMARY_DIFFERENCE = 0.2  # standardized difference below which an attribute is not news
#: Lead over the next channel, in share of tickets, from which a channel is "most often" used;
#: above half of the tickets it is used "mostly".
MIN_CHANNEL_LEAD = 0.05
UNKNOWN_CHANNEL = "(unknown)"
HOURS_SHOWN_AS_DAYS = 48
OUTCOME_LABELS = {
    "csat": "satisfaction",
    "resolution_time": "resolution time",
    "reopened": "reopened",
    "escalated": "escalated",
}


@dataclass(frozen=True)
class ProfilesResult:
    """What one profiles call did."""

    personas: int
    with_challenges: int
    seconds: float


def build_profiles(con: duckdb.DuckDBPyConnection) -> ProfilesResult:
    """Rebuild `persona_profiles` from segments, tickets and `issue_by_persona`."""
    started = time.perf_counter()
    current = current_model(con)
    model_id = current[0] if current else None
    segments = con.execute(
        "SELECT segment_id, name, kind FROM segments ORDER BY segment_id"
    ).fetchall()
    contacts = contact_counts(con)
    everyone_customers, _, everyone_tickets = contacts.get(EVERYONE, (0, 0, 0))
    outcomes = outcome_columns(con)
    attributes = attribute_facts(con)
    behaviours = behaviour_facts(con, contacts)
    measured = outcome_facts(con, outcomes)
    flags = {
        sid: (negative, json.loads(drivers))
        for sid, negative, drivers in con.execute(
            "SELECT segment_id, negative, drivers FROM segment_flags"
        ).fetchall()
    }
    challenges_of = {sid: _challenges(con, sid, model_id) for sid, _, _ in segments}
    questions_of = _questions(con, challenges_of, model_id)
    problems = problem_facts(con, challenges_of, model_id, outcomes)
    profiles = []
    for sid, name, kind in segments:
        customers, contacting, tickets = contacts.get(sid, (0, 0, 0))
        challenges = challenges_of[sid]
        questions = {
            str(c["topic_id"]): questions_of[(sid, int(c["topic_id"]))] for c in challenges
        }
        others_customers = everyone_customers - customers
        others_tickets = everyone_tickets - tickets
        per_customer = tickets / customers if customers else None
        baseline_per_customer = others_tickets / others_customers if others_customers else None
        summary = _summary(
            name,
            kind,
            customers=customers,
            contacting=contacting,
            others=others_customers,
            per_customer=per_customer,
            baseline_per_customer=baseline_per_customer,
            challenges=challenges,
            attributes=attributes.get(sid, []),
            behaviours=behaviours.get(sid, {}),
            outcomes=measured.get(sid, []),
            flag=flags.get(sid),
        )
        profiles.append(
            [
                sid,
                model_id,
                customers,
                contacting,
                tickets,
                per_customer,
                json.dumps(challenges),
                json.dumps(questions),
                summary,
                json.dumps(attributes.get(sid, [])),
                json.dumps(behaviours.get(sid, {})),
                json.dumps(problems.get(sid, [])),
                json.dumps(measured.get(sid, [])),
            ]
        )
    with transaction(con):
        con.execute("DELETE FROM persona_profiles")
        # DuckDB refuses executemany with no rows: a config without personas has none.
        if profiles:
            con.executemany(
                """INSERT INTO persona_profiles (segment_id, model_id, customers, contacting_customers,
                    tickets, tickets_per_customer, challenges, questions, summary, attributes,
                    behaviours, problems, outcomes, built_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())""",
                profiles,
            )
    return ProfilesResult(
        personas=len(profiles),
        with_challenges=sum(1 for p in profiles if p[6] != "[]"),
        seconds=time.perf_counter() - started,
    )


def _challenges(
    con: duckdb.DuckDBPyConnection, sid: str, model_id: str | None
) -> list[dict[str, Any]]:
    if model_id is None:
        return []
    rows = con.execute(
        """SELECT i.topic_id, tp.label,
                  -- the topic's own noun phrases read better than c-TF-IDF word pairs
                  CASE WHEN len(coalesce(tp.keyphrases, [])) >= 3 THEN tp.keyphrases ELSE tp.keywords END,
                  i.tickets, i.customers, i.share, i.baseline_share,
                  i.lift, i.ci_low, i.ci_high, i.q_value
        FROM issue_by_persona i JOIN topics tp USING (model_id, topic_id)
        WHERE i.segment_id = ? AND i.model_id = ? AND i.significant AND i.lift > 1
        ORDER BY i.lift DESC LIMIT ?""",
        [sid, model_id, MAX_CHALLENGES],
    ).fetchall()
    keys = [
        "topic_id",
        "label",
        "keywords",
        "tickets",
        "customers",
        "share",
        "baseline_share",
        "lift",
        "ci_low",
        "ci_high",
        "q_value",
    ]
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _questions(
    con: duckdb.DuckDBPyConnection,
    challenges_of: Mapping[str, Sequence[Mapping[str, Any]]],
    model_id: str | None,
) -> dict[tuple[str, int], list[str]]:
    """Each persona's common questions on each of its challenges, by (segment, topic).

    Common: asked by several of the persona's customers, and more often on the issue than on
    all tickets (`personas.shown.common_questions_sql`), the most specific and most asked
    first. Only analysed questions (names redacted; `personas.shown.analyse_shown`) are shown.
    One query for every pair: a large persona asks tens of thousands of questions on a topic,
    and the joins cost more than the counting.
    """
    with challenge_pairs(con, challenges_of) as pairs:
        if model_id is None or not pairs:
            return {}
        rows = con.execute(
            f"""WITH ranked AS ({common_questions_sql("__challenges")})
            SELECT segment_id, topic_id, shown FROM ranked WHERE shown IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY segment_id, topic_id ORDER BY rank) <= $top
            ORDER BY segment_id, topic_id, rank""",
            {"model": model_id, "top": QUESTIONS_PER_CHALLENGE},
        ).fetchall()
    questions: dict[tuple[str, int], list[str]] = {pair: [] for pair in pairs}
    for sid, topic, question in rows:
        questions[(sid, topic)].append(question)
    return questions


def _challenge_evidence(challenge: dict[str, object]) -> str:
    """A challenge in a persona's summary: its lift and interval, or "only them" where nobody
    else raises the issue (the lift is then the 0.5 added to each count, not a finding)."""
    label = challenge["label"]
    if challenge.get("baseline_share") == 0:
        return f"{label} (only them: {challenge['tickets']} tickets, no one else's)"
    lift, low, high = (float(challenge[k]) for k in ("lift", "ci_low", "ci_high"))  # type: ignore[arg-type]
    return f"{label} ({lift:.1f}x, 95% CI {low:.1f}-{high:.1f})"


def _summary(
    name: str,
    kind: str,
    *,
    customers: int,
    contacting: int,
    others: int,
    per_customer: float | None,
    baseline_per_customer: float | None,
    challenges: list[dict[str, Any]],
    attributes: list[dict[str, Any]],
    behaviours: dict[str, Any],
    outcomes: list[dict[str, Any]],
    flag: tuple[bool, list[dict[str, Any]]] | None,
) -> str:
    """The persona in plain sentences: who they are, how they contact support, the issues they
    raise more, their outcomes and the negative verdict, each against everyone else (said once,
    where the comparisons start); a figure equal to everyone else's is left out. A persona with
    nobody in it, or with everybody, has nothing to compare: the summary says so and why."""
    if customers == 0:
        return f"{name}: no customer matches this persona's rule (check `where`)."
    head = f"{name}: {customers} customers, {contacting} of whom contacted support."
    if others == 0:
        return f"{head} Every customer matches this persona: there is no one to compare it with."
    compared = []
    if (
        per_customer is not None
        and baseline_per_customer
        and f"{per_customer:.1f}" != f"{baseline_per_customer:.1f}"
    ):
        compared.append(
            f"{per_customer:.1f} tickets per customer (vs {baseline_per_customer:.1f}, "
            f"{per_customer / baseline_per_customer:.1f}x)"
        )
    compared += [a for a in map(_attribute_phrase, attributes[:SUMMARY_ATTRIBUTES]) if a]
    parts = [head]
    if compared:
        parts.append(
            "Compared with everyone else (the customers outside this persona): "
            + "; ".join(compared)
            + "."
        )
    how = _behaviour_phrases(behaviours)
    if how:
        parts.append("They " + " and ".join(how) + ".")
    if challenges:
        listed = ", ".join(_challenge_evidence(c) for c in challenges[:3])
        parts.append(f"They raise these issues more than everyone else: {listed}.")
    else:
        parts.append("No issue stands out for them with statistical confidence.")
    shown = [o for o in map(_outcome_phrase, outcomes) if o]
    if shown:
        parts.append("Outcomes: " + "; ".join(shown) + ".")
    parts.append(_negative_sentence(kind, flag))
    return " ".join(p for p in parts if p)


def _attribute_phrase(fact: dict[str, Any]) -> str:
    difference = fact.get("std_diff")
    if difference is None or abs(difference) < MIN_SUMMARY_DIFFERENCE:
        return ""
    if fact["type"] == "categorical":
        return (
            f"{fact['attribute']} {fact['value']} {fact['persona']:.0%} (vs {fact['everyone']:.0%})"
        )
    persona, everyone = fact["persona_mean"], fact["everyone_mean"]
    if fact["type"] == "date":
        return f"{fact['attribute']} around {persona} (vs {everyone})"
    return f"{fact['attribute']} {_number(persona)} on average (vs {_number(everyone)})"


def _behaviour_phrases(behaviours: dict[str, Any]) -> list[str]:
    """How they contact support, where it says something: a channel that stands out, and
    repeat contacts that differ from everyone else's."""
    phrases = []
    channel = _channel_phrase(behaviours.get("channels") or [])
    if channel:
        phrases.append(channel)
    repeats = behaviours.get("repeat_contacts") or {}
    share, everyone = repeats.get("share"), (repeats.get("everyone") or {}).get("share")
    if share is not None and everyone is not None and _percent(share) != _percent(everyone):
        phrases.append(
            f"come back on the same topic in {_percent(share)} of tickets (vs {_percent(everyone)})"
        )
    return phrases


def _channel_phrase(channels: list[dict[str, Any]]) -> str:
    """The channel they use most, when it is one: "mostly" above half of their tickets, "most
    often" with a lead of `MIN_CHANNEL_LEAD` over the next; nothing where the channel is
    unknown, the channels are used about evenly, or they use it as much as everyone else."""
    known = [c for c in channels if c["value"] != UNKNOWN_CHANNEL]
    if not known:
        return ""
    top, share = known[0], known[0]["persona"]
    runner_up = known[1]["persona"] if len(known) > 1 else 0.0
    everyone = top.get("everyone")
    if everyone is not None and _percent(share) == _percent(everyone):
        return ""
    if share > 0.5:
        how = "mostly"
    elif share - runner_up >= MIN_CHANNEL_LEAD:
        how = "most often"
    else:
        return ""
    versus = f" vs {_percent(everyone)}" if everyone is not None else ""
    return f"contact support {how} by {top['value']} ({_percent(share)} of their tickets{versus})"


def _outcome_phrase(outcome: dict[str, Any]) -> str:
    persona, everyone = outcome.get("persona"), outcome.get("everyone")
    if persona is None or everyone is None:
        return ""
    label = OUTCOME_LABELS.get(outcome["kind"], outcome["kind"])
    if outcome["unit"] == "share":
        return f"{label} {_percent(persona)} (vs {_percent(everyone)})"
    if outcome["unit"] == "hours":
        return f"{label} {_duration(persona, everyone)}"
    return f"{label} {_number(persona)} (vs {_number(everyone)})"


def _percent(share: float) -> str:
    """A share as people read it, with one decimal under 10%: "5.5% (vs 2.1%)" is a finding
    that "5% (vs 2%)" blurs and "0% (vs 0%)" hides."""
    return f"{share:.0%}" if share >= 0.1 or share == 0 else f"{share:.1%}"


def _number(value: float) -> str:
    """A mean to about three significant digits, thousands separated, never in scientific
    notation."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _duration(hours: float, others: float) -> str:
    """Two durations in one unit: hours, or days from `HOURS_SHOWN_AS_DAYS` hours on."""
    if max(abs(hours), abs(others)) < HOURS_SHOWN_AS_DAYS:
        return f"{hours:.1f} h (vs {others:.1f} h)"
    return f"{_number(hours / 24)} days (vs {_number(others / 24)} days)"


def _negative_sentence(kind: str, flag: tuple[bool, list[dict[str, Any]]] | None) -> str:
    """The negative verdict in the cost-to-serve signals measured (`personas.negative`):
    tickets, repeat contacts, returns, ratings; never revenue, which nothing here measures."""
    negative, drivers = flag if flag else (False, [])
    evidence = ", ".join(
        f"{d['label']} {d['ratio']:.1f}x (95% CI {d['ci_low']:.1f}-{d['ci_high']:.1f})"
        for d in drivers[:3]
    )
    if negative:
        return (
            "The data flags them as a negative persona, costlier to serve than everyone else: "
            f"{evidence}."
        )
    if kind == "negative" and flag is not None:
        return "Declared a negative persona in the config, but the data does not confirm it: " + (
            f"only {evidence} is worse than everyone else."
            if evidence
            else "no cost-to-serve signal is significantly worse than everyone else's."
        )
    if kind == "negative":
        return (
            "Declared a negative persona in the config, costlier to serve than everyone else: "
            "its cost-to-serve signals (tickets per customer, repeat contacts, return, refund "
            "and complaint tickets) are not assessed yet."
        )
    return ""
