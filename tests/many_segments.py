"""A warehouse with many segments and issues, as after `discover` on a real help desk.

Fifteen segments (seven rule personas, six discovered segments, two negative segments) and
forty issues in eight themes, with long persona names and issue labels. Each segment raises
two issues of its own far more than everyone else; the first persona never raises the three
common issues that everyone else does (a significant under-indexing). The discovered
segments' ids sort before the rule personas', so that an order taken from the ids would put
them first.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

from persona_mining import warehouse as db
from persona_mining.config import LinkConfig
from persona_mining.personas.link import link_issues
from persona_mining.personas.profiles import build_profiles
from tests.synthetic import MODEL, Ticket, add_customers, add_model, add_segment, add_tickets

RULE_PERSONAS = (
    "Budget-conscious college student",
    "Busy working parent",
    "Small business owner on the team plan",
    "First-time buyer",
    "Loyal subscriber since launch",
    "International customer paying in another currency",
    "Enterprise administrator",
)
DISCOVERED = (
    "plan=free · age 18-24 · mostly chat",
    "plan=pro · 3+ orders a month",
    "region=EU · email only",
    "tenure < 30 days · mobile app",
    "annual subscription · desktop",
    "gift buyers <b>in December</b>",
)
NEGATIVE = ("Serial returner", "Chronic complainer")
SUBJECTS = (
    "Refund",
    "Subscription renewal",
    "Password reset",
    "Delivery",
    "Invoice",
    "Discount code",
    "Account deletion",
    "Two-factor authentication",
)
PROBLEMS = (
    "not arriving after the promised date",
    "charged twice on the same card",
    "cannot find it in the app",
    "questions before buying",
    "error message when paying",
)
SEGMENT_SIZE = 40
OTHERS = 200
START = datetime(2026, 1, 5, 9)


def issue_labels() -> list[str]:
    """Forty issue labels as a topic model writes them, one of them far too long for a cell."""
    labels = [f"{s} {p}" for s in SUBJECTS for p in PROBLEMS]
    labels[7] = (
        "Subscription renewal charged twice on the same card after cancelling the "
        "previous plan during the free trial"
    )
    return labels


def build(path: Path) -> Path:
    """Write the warehouse file at `path`: segments, a topic model, tickets, links, profiles."""
    rng = random.Random(18)
    names = [*RULE_PERSONAS, *DISCOVERED, *NEGATIVE]
    kinds = ["rule"] * len(RULE_PERSONAS) + ["discovered"] * len(DISCOVERED)
    kinds += ["negative"] * len(NEGATIVE)
    ids = [f"rule-{i}" if kind == "rule" else f"{kind}-{i}" for i, kind in enumerate(kinds)]
    labels = issue_labels()
    con = db.connect(path)
    try:
        members = {sid: [f"{sid}-c{j}" for j in range(SEGMENT_SIZE)] for sid in ids}
        others = [f"other-{j}" for j in range(OTHERS)]
        everyone = [c for group in members.values() for c in group] + others
        add_customers(con, [{"customer_id": c, "plan": "x"} for c in everyone], {"plan": "VARCHAR"})
        add_model(con, {t: (label, [label.split()[0].lower()]) for t, label in enumerate(labels)})
        con.execute(
            "UPDATE topics SET size = 30, group_id = CASE WHEN topic_id = -1 THEN -1 "
            "ELSE topic_id // 5 END"
        )
        con.executemany(
            "INSERT INTO topic_groups (model_id, group_id, label, topics, size) VALUES (?, ?, ?, ?, ?)",
            [[MODEL, -1, "Unclustered", 1, 0]]
            + [[MODEL, g, SUBJECTS[g], 5, 150] for g in range(len(SUBJECTS))],
        )
        tickets: list[Ticket] = []

        def ticket(customer: str, topic: int) -> None:
            when = START + timedelta(days=rng.randrange(56))
            tickets.append(Ticket(f"t{len(tickets)}", customer, topic, when))

        for s, sid in enumerate(ids):
            own = (3 + 2 * s) % len(labels), (4 + 2 * s) % len(labels)
            for customer in members[sid]:
                for topic in own:
                    if rng.random() < 0.7:
                        ticket(customer, topic)
                ticket(customer, rng.randrange(3, len(labels)))
                if s != 0 and rng.random() < 0.8:
                    ticket(customer, rng.randrange(3))  # the common issues, never persona 0
        for customer in others:
            ticket(customer, rng.randrange(3))
            ticket(customer, rng.randrange(3, len(labels)))
        add_tickets(con, tickets)
        for sid, name, kind in zip(ids, names, kinds, strict=True):
            add_segment(con, sid, members[sid], kind=kind, name=name)
        # Two-sided: under-indexing is a finding here too, so that both marks are drawn.
        link_issues(con, config=LinkConfig(findings="both"))
        build_profiles(con)
    finally:
        con.close()
    return path
