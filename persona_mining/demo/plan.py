"""The plan of the demo help desk: who the customers are and which issue each ticket is about.

The generator plants known personas and known (persona, issue) links so that the
pipeline (cleaning, topic modelling, statistical linking) can be evaluated against
ground truth. The help desk's content (personas, issues, products, names) is read
from ``helpdesk.toml`` by :mod:`persona_mining.demo.data`; the numbers that shape the
plan are constants below, so tests can recompute the truth:

* Customers: ``PERSONA_SHARES`` of them are planted personas (15% busy working
  parents, 15% tech-savvy young professionals, 15% budget-conscious students, 6%
  serial returners, the rest general population). Each persona member matches
  its own ``rule`` (a DuckDB boolean expression over ``customers``) and no other
  rule; general customers match no rule at all, although many are near misses
  (students on paid plans, engineers over 35, part-time parents, customers with
  some returns).
* Tickets: each customer files ``Poisson(TICKETS_PER_CUSTOMER[group])`` tickets
  (returners about 9, everybody else about 3). ``ANONYMOUS_SHARE`` of all tickets
  have no customer. Tickets span ``WINDOW_DAYS`` days ending at ``WINDOW_END``.
* Issues: every ticket's issue (``demo_issue``, ground truth for evaluation only)
  is drawn from ``BASE_RATES`` over all 21 ``ISSUES``: 9 common ones (order_status
  14%, login_problem 8%, payment_failed/cancel_order/damaged_item 7% each, ...)
  and the 12 persona-specific ones at 2-4% each. For a planted persona, with
  probability ``PLANTED_MASS`` (0.45) the issue is instead drawn uniformly from its
  3 ``planted_issues`` (so each gets 0.15 + 0.55 * base, 4-8x its base rate
  and 5-9x its share among other tickets); ``issue_distribution`` is the exact mix:

  ================  ===================================================
  busy_parent       delivery_slot, subscription_pause, easy_setup
  tech_pro          app_crash, tech_specs, preorder
  budget_student    student_discount, price_match, warranty_claim
  serial_returner   return_request, refund_delay, complaint (negative)
  ================  ===================================================

  The planted links (``planted_links()``) are these (persona name, issue) pairs;
  general and anonymous tickets follow ``BASE_RATES`` alone.

* Outcomes: each ticket's CSAT rating (on ``RATED_SHARE`` of tickets), hours to
  resolution and reopened flag are drawn from the ``[outcomes]`` of ``helpdesk.toml``
  with their own seeded stream (``plan_outcomes``), so the customers, issues and texts
  are those of a demo without them. One planted outcome effect
  (``planted_outcome_effects()``): the tech-savvy professionals' app crashes are rated
  about 2 (everyone else about 4.2) and take 48 hours on average to resolve (everyone
  else 20), a cost that the impact stage should find.

The text of each ticket is written by :mod:`persona_mining.demo.render`.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import accumulate
from typing import Any

from persona_mining.demo.data import OutcomeMix, PlannedPersona, load_helpdesk

__all__ = [
    "BASE_RATES",
    "ISSUES",
    "PERSONAS",
    "PERSONA_SHARES",
    "TEMPLATES",
    "TICKETS_PER_CUSTOMER",
    "PlannedPersona",
    "PlannedTicket",
    "TicketOutcome",
    "issue_distribution",
    "make_customers",
    "persona_matches",
    "plan_outcomes",
    "plan_tickets",
    "planted_links",
    "planted_outcome_effects",
    "product_weights",
]

_DESK = load_helpdesk()

WINDOW_END = datetime(2026, 4, 1)  # exclusive: tickets run up to 2026-03-31 23:59:59
WINDOW_DAYS = 182
CHANNELS = ("email", "chat", "phone", "web")
PLANTED_MASS = 0.45  # share of a persona's tickets moved onto its planted issues
ANONYMOUS_SHARE = 0.03
PREFERRED_CHANNEL_SHARE = 0.7  # otherwise a uniformly random channel
# Relative ticket volume per hour of the day (local time), midnight first.
_HOUR_WEIGHTS = (1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 4, 6, 7, 7, 6, 6, 7, 7, 6, 5, 4, 4, 4, 3, 2, 1.5)

COMPANY = _DESK.company
PERSONAS: tuple[PlannedPersona, ...] = _DESK.personas
ISSUES: dict[str, str] = {key: spec.label for key, spec in _DESK.issues.items()}
# Base issue rates for everybody (sum to 1); planted issues included at a lower rate.
BASE_RATES: dict[str, float] = {key: spec.base_rate for key, spec in _DESK.issues.items()}
TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    key: {"subjects": spec.subjects, "bodies": spec.bodies} for key, spec in _DESK.issues.items()
}
PERSONA_SHARES: dict[str, float] = {key: mix.share for key, mix in _DESK.persona_mix.items()}
TICKETS_PER_CUSTOMER: dict[str, float] = {
    **{key: mix.tickets_per_customer for key, mix in _DESK.persona_mix.items()},
    "general": _DESK.general_tickets_per_customer,
}
TECH_OCCUPATIONS = _DESK.tech_occupations
RATED_SHARE = _DESK.rated_share
OUTCOMES: OutcomeMix = _DESK.outcomes


@dataclass(frozen=True)
class PlannedTicket:
    """One ticket of the plan, before its text is written.

    Attributes:
        start: Seconds from the start of the window to its creation.
        customer: Index of its customer, or -1 for an anonymous ticket.
        issue: Its issue key (ground truth).
        channel: The channel it came through.
        delay: Seconds from its creation to its last update.
    """

    start: int
    customer: int
    issue: str
    channel: str
    delay: int


def issue_distribution(persona_key: str | None = None) -> dict[str, float]:
    """Return the true issue probabilities of a ticket.

    Args:
        persona_key: A planted persona's key, or None for general/anonymous tickets.

    Returns:
        Issue key to probability (sums to 1).
    """
    total = sum(BASE_RATES.values())
    base = {k: v / total for k, v in BASE_RATES.items()}
    if persona_key is None or persona_key == "general":
        return base
    persona = next(p for p in PERSONAS if p.key == persona_key)
    probs = {k: (1.0 - PLANTED_MASS) * v for k, v in base.items()}
    for issue in persona.planted_issues:
        probs[issue] += PLANTED_MASS / len(persona.planted_issues)
    return probs


@dataclass(frozen=True)
class TicketOutcome:
    """How one ticket ended.

    Attributes:
        csat: The customer's rating 1..5, or None when they gave none.
        resolution_hours: Hours from creation to resolution (one decimal).
        reopened: Whether the ticket was reopened.
    """

    csat: int | None
    resolution_hours: float
    reopened: bool


def planted_outcome_effects() -> dict[tuple[str, str], OutcomeMix]:
    """Return the planted (persona name, issue key) outcome effects and their outcome mix."""
    names = {p.key: p.name for p in PERSONAS}
    return {(names[k], issue): mix for (k, issue), mix in _DESK.outcome_effects.items()}


def plan_outcomes(seed: int, plan: list[PlannedTicket], groups: list[str]) -> list[TicketOutcome]:
    """Draw each planned ticket's outcome, from a stream of its own (the plan is unchanged).

    Args:
        seed: The demo's seed.
        plan: The tickets from :func:`plan_tickets`.
        groups: Each customer's group key.

    Returns:
        One outcome per ticket, in the plan's order.
    """
    rng = random.Random(f"persona-mining-demo:{seed}:outcomes")
    ratings = (1, 2, 3, 4, 5)
    outcomes = []
    for ticket in plan:
        group = groups[ticket.customer] if ticket.customer >= 0 else "general"
        mix = _DESK.outcome_effects.get((group, ticket.issue), OUTCOMES)
        rated = rng.random() < RATED_SHARE
        csat = rng.choices(ratings, mix.csat)[0]
        hours = round(rng.expovariate(1 / mix.resolution_hours) + 0.1, 1)
        reopened = rng.random() < mix.reopen_rate
        outcomes.append(TicketOutcome(csat if rated else None, hours, reopened))
    return outcomes


def planted_links() -> frozenset[tuple[str, str]]:
    """Return the planted (persona name, issue key) pairs."""
    return frozenset((p.name, i) for p in PERSONAS for i in p.planted_issues)


def persona_matches(c: dict[str, Any]) -> set[str]:
    """Return the keys of the persona rules a customer record satisfies (Python mirror)."""
    hits = set()
    if c["household"] == "family with children" and c["work_status"] == "full-time":
        hits.add("busy_parent")
    if 22 <= c["age"] <= 35 and c["occupation"] in TECH_OCCUPATIONS:
        hits.add("tech_pro")
    if c["occupation"] == "student" and c["plan"] == "free":
        hits.add("budget_student")
    if c["returns_12m"] >= 6 and 10 * c["returns_12m"] >= 4 * c["orders_12m"]:
        hits.add("serial_returner")
    return hits


def pick(rng: random.Random, weights: dict[str, float]) -> str:
    """Draw one key of ``weights`` with probability proportional to its weight."""
    return rng.choices(tuple(weights), tuple(weights.values()))[0]


def _draft_customer(rng: random.Random, group: str) -> dict[str, Any]:
    """Draw one customer's attributes for a group (may still need a rule check)."""
    r = rng.random()
    occupation = rng.choice(_DESK.occupations)
    age = rng.randint(24, 64)
    household = rng.choice(_DESK.households)
    work = pick(rng, {"full-time": 6, "part-time": 2.5, "self-employed": 1.5})
    plan = pick(rng, {"free": 4, "standard": 4, "premium": 2})
    channel = pick(rng, {"email": 3.5, "phone": 2, "web": 2.5, "chat": 2})
    orders = min(60, int(rng.expovariate(1 / 7)))
    returns = int(orders * rng.uniform(0, 0.25))
    first_year = 2018
    if group == "busy_parent":
        household, work, age = "family with children", "full-time", rng.randint(27, 52)
        plan = pick(rng, {"free": 1.5, "standard": 5, "premium": 3.5})
        channel = pick(rng, {"chat": 3.5, "email": 3, "web": 2, "phone": 1.5})
        orders, returns = rng.randint(8, 30), rng.randint(0, 3)
    elif group == "tech_pro":
        occupation, age = rng.choice(TECH_OCCUPATIONS), rng.randint(22, 35)
        household = rng.choice(("single", "couple", "shared flat"))
        work = pick(rng, {"full-time": 8, "self-employed": 2})
        plan = pick(rng, {"free": 1, "standard": 3.5, "premium": 5.5})
        channel = pick(rng, {"chat": 4.5, "web": 3.5, "email": 1.5, "phone": 0.5})
        orders, returns, first_year = rng.randint(6, 35), rng.randint(0, 3), 2020
    elif group == "budget_student":
        occupation, plan, age = "student", "free", rng.randint(18, 26)
        household = rng.choice(("shared flat", "living with parents", "single"))
        work = pick(rng, {"student": 7, "part-time": 3})
        channel = pick(rng, {"chat": 4, "web": 3.5, "email": 2, "phone": 0.5})
        orders, returns, first_year = rng.randint(1, 12), rng.randint(0, 2), 2022
    elif group == "serial_returner":
        channel = pick(rng, {"phone": 3.5, "email": 3.5, "chat": 1.5, "web": 1.5})
        orders = rng.randint(10, 35)
        returns = max(6, math.ceil(orders * rng.uniform(0.45, 0.85)))
    elif r < 0.06:  # general near miss: student on a paid plan
        occupation, age = "student", rng.randint(18, 29)
        work = pick(rng, {"student": 7, "part-time": 3})
        plan = rng.choice(("standard", "premium"))
    elif r < 0.11:  # tech occupation but older (or very young)
        occupation = rng.choice(TECH_OCCUPATIONS)
        age = rng.randint(36, 60) if rng.random() < 0.85 else rng.randint(19, 21)
    elif r < 0.19:  # parent working part-time or self-employed
        household, work = "family with children", rng.choice(("part-time", "self-employed"))
    elif r < 0.25:  # frequent buyer with many (but not too many) returns
        orders = rng.randint(8, 40)
        returns = rng.randint(2, 5) if rng.random() < 0.5 else int(orders * rng.uniform(0.15, 0.37))
    elif r < 0.35:  # retired
        occupation, work, age = "retired", "retired", rng.randint(60, 86)
        household = rng.choice(("single", "couple"))
    if work == "student" and group == "general" and occupation != "student":
        work = "part-time"
    signup = date(first_year, 1, 1) + timedelta(
        days=rng.randrange(
            (WINDOW_END.date() - timedelta(days=WINDOW_DAYS + 1) - date(first_year, 1, 1)).days
        )
    )
    return {
        "age": age,
        "occupation": occupation,
        "household": household,
        "work_status": work,
        "plan": plan,
        "region": rng.choice(_DESK.regions),
        "channel_preference": channel,
        "signup_date": signup.isoformat(),
        "orders_12m": orders,
        "returns_12m": returns,
    }


def make_customers(rng: random.Random, n: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Draw ``n`` customers; return records and each one's group key.

    Every persona member matches its own rule and no other; every general customer
    matches none (drafts that do are drawn again).
    """
    groups = [k for k, share in PERSONA_SHARES.items() for _ in range(round(n * share))]
    groups = (groups + ["general"] * n)[:n]
    rng.shuffle(groups)
    width = max(5, len(str(n)))
    customers = []
    for i, group in enumerate(groups):
        want = set() if group == "general" else {group}
        while True:
            c = _draft_customer(rng, group)
            if persona_matches(c) == want:
                break
        customers.append({"customer_id": f"C{i + 1:0{width}d}", **c})
    return customers, groups


def poisson(rng: random.Random, lam: float) -> int:
    """Draw from Poisson(``lam``) by Knuth's method (``lam`` is small here)."""
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def plan_tickets(
    seed: int, customers: list[dict[str, Any]], groups: list[str]
) -> list[PlannedTicket]:
    """Draw every ticket's customer, issue, channel and times, in order of creation.

    Args:
        seed: The demo's seed.
        customers: Customer records from :func:`make_customers`.
        groups: Each customer's group key (a persona key or ``"general"``).

    Returns:
        The tickets, sorted by creation time; anonymous ones have ``customer == -1``.
    """
    rng = random.Random(f"persona-mining-demo:{seed}:tickets")
    cum = {
        g: (list(accumulate(d.values())), list(d))
        for g in TICKETS_PER_CUSTOMER
        for d in [issue_distribution(g)]
    }
    hours = list(accumulate(_HOUR_WEIGHTS))
    plan: list[tuple[int, int, str, str, int]] = []

    def add(idx: int, group: str, channel: str) -> None:
        weights, keys = cum[group]
        issue = keys[min(bisect_right(weights, rng.random() * weights[-1]), len(keys) - 1)]
        hour = bisect_right(hours, rng.random() * hours[-1])
        start = rng.randrange(WINDOW_DAYS) * 86400 + hour * 3600 + rng.randrange(3600)
        delay = int(rng.expovariate(1 / 64800)) + rng.randint(60, 3600)  # mean about 18 h
        plan.append((start, idx, issue, channel, delay))

    for idx, (c, group) in enumerate(zip(customers, groups, strict=True)):
        pref = c["channel_preference"]
        for _ in range(poisson(rng, TICKETS_PER_CUSTOMER[group])):
            keep = rng.random() < PREFERRED_CHANNEL_SHARE
            add(idx, group, pref if keep else rng.choice(CHANNELS))
    for _ in range(round(len(plan) * ANONYMOUS_SHARE / (1 - ANONYMOUS_SHARE))):
        add(-1, "general", pick(rng, {"web": 5, "email": 4, "chat": 1}))
    plan.sort()
    return [PlannedTicket(*row) for row in plan]


def product_weights(group: str) -> dict[str, float]:
    """Weights of the product categories a group's tickets mention (uniform if unset)."""
    mix = _DESK.persona_mix.get(group)
    if mix is not None and mix.product_categories is not None:
        return mix.product_categories
    return {category: 1.0 for category in _DESK.products}
