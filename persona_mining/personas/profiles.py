"""Stage 7, personas: one profile per segment, built from the evidence of the earlier stages.

A profile says who the persona is (size, the attributes that set it apart from everyone), how
it contacts support (channels, frequency, time of day and week, repeat contacts), its
challenges (significantly over-indexed issues, with lift, interval and q-value), the questions
it asks about each, the problems behind them (topic keywords, typical redacted tickets, and
outcomes such as CSAT or resolution time where the tickets have them), whether the data flags
it as a negative persona and why, and a templated plain-language summary of those facts.
Nothing is claimed that the stored statistics do not back.
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
from persona_mining.topics.model import current_model
from persona_mining.warehouse import transaction

MAX_CHALLENGES = 5
QUESTIONS_PER_CHALLENGE = 3
SUMMARY_ATTRIBUTES = 2
MIN_SUMMARY_DIFFERENCE = 0.2  # standardized difference below which an attribute is not news
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
        flag = flags.get(sid)
        summary = _summary(
            name, kind, customers, contacting, per_customer, baseline_per_customer, challenges
        )
        summary = _with_facts(
            summary,
            kind=kind,
            attributes=attributes.get(sid, []),
            behaviours=behaviours.get(sid, {}),
            outcomes=measured.get(sid, []),
            flag=flag,
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
    """Each persona's most typical questions on each of its challenges, by (segment, topic).

    The most repeated wordings come first. Wordings are compared by their letters, digits and
    spaces in lower case; ties go to the wording met first in the topic's order (most probable
    tickets first). Only analysed questions (names redacted; `personas.shown.analyse_shown`)
    are read. One query for every pair: a large persona asks tens of thousands of questions on
    a topic, and the joins cost more than the counting.
    """
    with challenge_pairs(con, challenges_of) as pairs:
        if model_id is None or not pairs:
            return {}
        rows = con.execute(
            """WITH asked AS (
                SELECT c.segment_id, c.topic_id, q.question,
                       trim(regexp_replace(lower(q.question), '[^a-z0-9 ]+', '', 'g')) AS wording,
                       row_number() OVER (PARTITION BY c.segment_id, c.topic_id
                                          ORDER BY tt.probability DESC, q.ticket_id, q.position) AS seen
                FROM __challenges c
                JOIN ticket_topics tt ON tt.model_id = ? AND tt.topic_id = c.topic_id
                JOIN tickets t ON t.ticket_id = tt.ticket_id
                JOIN customer_segments cs
                  ON cs.customer_id = t.customer_id AND cs.segment_id = c.segment_id
                JOIN v_analysed_questions q ON q.ticket_id = tt.ticket_id
            ), counted AS (
                SELECT segment_id, topic_id, arg_min(question, seen) AS question,
                       count(*) AS times, min(seen) AS first
                FROM asked
                WHERE length(question) BETWEEN 10 AND 200 AND wording <> ''
                GROUP BY segment_id, topic_id, wording
            )
            SELECT segment_id, topic_id, question FROM counted
            QUALIFY row_number() OVER (PARTITION BY segment_id, topic_id ORDER BY times DESC, first) <= ?
            ORDER BY segment_id, topic_id, times DESC, first""",
            [model_id, QUESTIONS_PER_CHALLENGE],
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
    customers: int,
    contacting: int,
    per_customer: float | None,
    baseline_per_customer: float | None,
    challenges: list[dict[str, object]],
) -> str:
    parts = [f"{name}: {customers} customers, {contacting} of whom contacted support"]
    if per_customer is not None and baseline_per_customer:
        ratio = per_customer / baseline_per_customer
        parts[0] += (
            f" ({per_customer:.1f} tickets per customer vs {baseline_per_customer:.1f} for everyone else"
            f", {ratio:.1f}x)"
        )
    parts[0] += "."
    if challenges:
        listed = ", ".join(_challenge_evidence(c) for c in challenges[:3])
        parts.append(f"They raise these issues more than other customers: {listed}.")
    else:
        parts.append("No issue stands out for them with statistical confidence.")
    return " ".join(parts)


def _with_facts(
    summary: str,
    *,
    kind: str,
    attributes: list[dict[str, Any]],
    behaviours: dict[str, Any],
    outcomes: list[dict[str, Any]],
    flag: tuple[bool, list[dict[str, Any]]] | None,
) -> str:
    """The summary, with who they are, how they contact support and the negative verdict."""
    first, _, rest = summary.partition(". ")
    parts = [first + "."]
    who = [_attribute_phrase(a) for a in attributes[:SUMMARY_ATTRIBUTES]]
    who = [w for w in who if w]
    if who:
        parts.append("Compared with all customers: " + "; ".join(who) + ".")
    how = _behaviour_phrases(behaviours)
    if how:
        parts.append("They " + " and ".join(how) + ".")
    if rest:
        parts.append(rest)
    shown = [_outcome_phrase(o) for o in outcomes]
    shown = [o for o in shown if o]
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
    return f"{fact['attribute']} {persona:.3g} on average (vs {everyone:.3g})"


def _behaviour_phrases(behaviours: dict[str, Any]) -> list[str]:
    phrases = []
    channels = behaviours.get("channels") or []
    if channels:
        top = channels[0]
        phrases.append(
            f"contact support mostly by {top['value']} ({top['persona']:.0%} of their tickets "
            f"vs {top['everyone']:.0%})"
        )
    repeats = behaviours.get("repeat_contacts") or {}
    share, everyone = repeats.get("share"), repeats.get("everyone", {}).get("share")
    if share is not None and everyone is not None and max(share, everyone) > 0:
        phrases.append(f"come back on the same topic in {share:.0%} of tickets (vs {everyone:.0%})")
    return phrases


def _outcome_phrase(outcome: dict[str, Any]) -> str:
    persona, everyone = outcome.get("persona"), outcome.get("everyone")
    if persona is None or everyone is None:
        return ""
    label = OUTCOME_LABELS.get(outcome["kind"], outcome["kind"])
    if outcome["unit"] == "share":
        return f"{label} {persona:.0%} (vs {everyone:.0%})"
    unit = " h" if outcome["unit"] == "hours" else ""
    return f"{label} {persona:.3g}{unit} (vs {everyone:.3g}{unit})"


def _negative_sentence(kind: str, flag: tuple[bool, list[dict[str, Any]]] | None) -> str:
    negative, drivers = flag if flag else (False, [])
    evidence = ", ".join(
        f"{d['label']} {d['ratio']:.1f}x (95% CI {d['ci_low']:.1f}-{d['ci_high']:.1f})"
        for d in drivers[:3]
    )
    if negative:
        return f"The data flags them as a negative persona, costly to serve: {evidence}."
    if kind == "negative" and flag is not None:
        return "Declared a negative persona in the config, but the data does not confirm it: " + (
            f"only {evidence} is worse than everyone else."
            if evidence
            else "no cost-to-serve signal is significantly worse than everyone else's."
        )
    if kind == "negative":
        return (
            "Declared a negative persona in the config: their contacts cost more than they bring."
        )
    return ""
