"""Stage 7, personas: one profile per segment, built from the evidence of the link stage.

A profile says who the persona is (size, how many contact support and how often), its
challenges (significantly over-indexed issues, with lift, interval and q-value), the
questions it asks about each, and a templated plain-language summary. Nothing is claimed
that `issue_by_persona` does not back.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass

import duckdb

from persona_mining.db import transaction
from persona_mining.topics import current_model

MAX_CHALLENGES = 5
QUESTIONS_PER_CHALLENGE = 3


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
    overall = con.execute(
        """SELECT count(DISTINCT c.customer_id), count(t.ticket_id)
        FROM customers c LEFT JOIN tickets t USING (customer_id)"""
    ).fetchone()
    profiles = []
    for sid, name, kind in segments:
        size = con.execute(
            """SELECT count(DISTINCT cs.customer_id), count(DISTINCT t.customer_id), count(t.ticket_id)
            FROM customer_segments cs LEFT JOIN tickets t USING (customer_id)
            WHERE cs.segment_id = ?""",
            [sid],
        ).fetchone()
        customers, contacting, tickets = size if size else (0, 0, 0)
        challenges = _challenges(con, sid, model_id)
        questions = {
            str(c["topic_id"]): _questions(con, sid, model_id, c["topic_id"]) for c in challenges
        }
        others_customers = (overall[0] if overall else 0) - customers
        others_tickets = (overall[1] if overall else 0) - tickets
        per_customer = tickets / customers if customers else None
        baseline_per_customer = others_tickets / others_customers if others_customers else None
        summary = _summary(
            name, kind, customers, contacting, per_customer, baseline_per_customer, challenges
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
            ]
        )
    with transaction(con):
        con.execute("DELETE FROM persona_profiles")
        con.executemany(
            """INSERT INTO persona_profiles (segment_id, model_id, customers, contacting_customers, tickets,
                tickets_per_customer, challenges, questions, summary, built_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now())""",
            profiles,
        )
    return ProfilesResult(
        personas=len(profiles),
        with_challenges=sum(1 for p in profiles if p[6] != "[]"),
        seconds=time.perf_counter() - started,
    )


def _challenges(
    con: duckdb.DuckDBPyConnection, sid: str, model_id: str | None
) -> list[dict[str, object]]:
    if model_id is None:
        return []
    rows = con.execute(
        """SELECT i.topic_id, tp.label, tp.keywords, i.tickets, i.customers, i.share, i.baseline_share,
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
    con: duckdb.DuckDBPyConnection, sid: str, model_id: str | None, topic_id: object
) -> list[str]:
    """The persona's most typical questions on a topic: the most repeated wordings first."""
    rows = con.execute(
        """SELECT q.question FROM ticket_questions q
        JOIN tickets t USING (ticket_id)
        JOIN customer_segments cs ON cs.customer_id = t.customer_id AND cs.segment_id = ?
        JOIN ticket_topics tt ON tt.ticket_id = q.ticket_id AND tt.model_id = ? AND tt.topic_id = ?
        ORDER BY tt.probability DESC, q.ticket_id, q.position""",
        [sid, model_id, topic_id],
    ).fetchall()
    counts: Counter[str] = Counter()
    first: dict[str, str] = {}
    for (question,) in rows:
        key = re.sub(r"[^a-z0-9 ]+", "", question.lower()).strip()
        if 10 <= len(question) <= 200 and key:
            counts[key] += 1
            first.setdefault(key, question)
    return [first[key] for key, _ in counts.most_common(QUESTIONS_PER_CHALLENGE)]


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
        listed = ", ".join(
            f"{c['label']} ({float(c['lift']):.1f}x, 95% CI {float(c['ci_low']):.1f}-{float(c['ci_high']):.1f})"  # type: ignore[arg-type]
            for c in challenges[:3]
        )
        parts.append(f"They raise these issues more than other customers: {listed}.")
    else:
        parts.append("No issue stands out for them with statistical confidence.")
    if kind == "negative":
        parts.append("Flagged as a negative persona: their contacts cost more than they bring.")
    return " ".join(parts)
