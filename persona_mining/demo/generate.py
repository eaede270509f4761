"""Seeded demo data: customers and support tickets of the fictional retailer Northwind Goods.

:mod:`persona_mining.demo.plan` draws the customers (with planted personas) and each
ticket's issue; :mod:`persona_mining.demo.render` writes each ticket's text; this module
writes them as files (CSV, JSONL or Parquet) with a ``persona-mining.toml`` declaring the
planted personas and a ``plan.json`` recording the ground truth. Everything is fake:
``example.com``/``example.net`` addresses, ``555`` phone numbers and well-known test
card numbers.

Output is byte-identical for the same ``seed``, ``n_customers`` and ``fmt``.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from persona_mining import config
from persona_mining.demo.plan import (
    ANONYMOUS_SHARE,
    BASE_RATES,
    COMPANY,
    ISSUES,
    OUTCOMES,
    PERSONA_SHARES,
    PERSONAS,
    PLANTED_MASS,
    PREFERRED_CHANNEL_SHARE,
    RATED_SHARE,
    TICKETS_PER_CUSTOMER,
    WINDOW_DAYS,
    WINDOW_END,
    PlannedTicket,
    TicketOutcome,
    make_customers,
    plan_outcomes,
    plan_tickets,
    planted_links,
    planted_outcome_effects,
    product_weights,
)
from persona_mining.demo.render import (
    HTML_RATE,
    LOWERCASE_RATE,
    QUOTE_RATE,
    TYPO_RATE,
    make_person,
    render_ticket,
)

__all__ = ["DemoResult", "generate_demo", "planted_links"]

FORMATS = ("csv", "jsonl", "parquet")
CUSTOMER_COLUMNS = (
    "customer_id",
    "age",
    "occupation",
    "household",
    "work_status",
    "plan",
    "region",
    "channel_preference",
    "signup_date",
    "orders_12m",
    "returns_12m",
)
#: The ticket file's header: the canonical names (so the demo needs no column mapping), the
#: outcomes (recognised by name: persona_mining.personas.outcomes) and the planted issue, kept
#: as an extra column for the evaluation.
OUTCOME_COLUMNS = ("csat", "resolution_hours", "reopened")
TICKET_COLUMNS = (*config.TICKET_COLUMNS, *OUTCOME_COLUMNS, "demo_issue")


@dataclass(frozen=True)
class DemoResult:
    """Paths and sizes of a generated demo data set."""

    customers_path: Path
    tickets_path: Path
    config_path: Path
    plan_path: Path
    n_customers: int
    n_tickets: int


def _ticket_rows(
    seed: int,
    plan: list[PlannedTicket],
    outcomes: list[TicketOutcome],
    customers: list[dict[str, Any]],
    groups: list[str],
    people: list[dict[str, str]],
) -> Iterator[list[tuple[Any, ...]]]:
    """Render the planned tickets; yield them as row batches in ``TICKET_COLUMNS`` order."""
    width = max(6, len(str(len(plan))))
    start_dt = WINDOW_END - timedelta(days=WINDOW_DAYS)
    end_dt = WINDOW_END - timedelta(seconds=1)
    cats = {g: product_weights(g) for g in TICKETS_PER_CUSTOMER}
    text_rng = random.Random(f"persona-mining-demo:{seed}:text")
    batch: list[tuple[Any, ...]] = []
    for n, (ticket, outcome) in enumerate(zip(plan, outcomes, strict=True), 1):
        idx = ticket.customer
        created = start_dt + timedelta(seconds=ticket.start)
        updated = min(created + timedelta(seconds=ticket.delay), end_dt)
        person = people[idx] if idx >= 0 else make_person(text_rng)
        subject, body = render_ticket(
            text_rng,
            ticket.issue,
            ticket.channel,
            created,
            person,
            cats[groups[idx] if idx >= 0 else "general"],
        )
        batch.append(
            (
                f"T{n:0{width}d}",
                customers[idx]["customer_id"] if idx >= 0 else None,
                created.isoformat(),
                updated.isoformat(),
                ticket.channel,
                subject,
                body,
                outcome.csat,
                outcome.resolution_hours,
                outcome.reopened,
                ticket.issue,
            )
        )
        if len(batch) >= 50_000:
            yield batch
            batch = []
    if batch:
        yield batch


def _write(
    path: Path,
    fmt: str,
    columns: Sequence[str],
    batches: Iterable[list[tuple[Any, ...]]],
    types: dict[str, str],
) -> None:
    """Write row batches as csv, jsonl or parquet (``types``: column -> int/float/bool/date/timestamp)."""
    if fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(columns)
            for batch in batches:
                writer.writerows(
                    tuple(str(v).lower() if isinstance(v, bool) else v for v in row)
                    for row in batch
                )
    elif fmt == "jsonl":
        with path.open("w", encoding="utf-8") as f:
            for batch in batches:
                f.writelines(
                    json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False) + "\n"
                    for row in batch
                )
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrow = {
            "int": pa.int64(),
            "float": pa.float64(),
            "bool": pa.bool_(),
            "date": pa.date32(),
            "timestamp": pa.timestamp("s"),
        }
        schema = pa.schema([(c, arrow.get(types.get(c, ""), pa.string())) for c in columns])
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            for batch in batches:
                arrays = []
                for i, col in enumerate(columns):
                    kind = types.get(col)
                    values = pa.array(
                        [row[i] for row in batch],
                        arrow[kind] if kind in ("int", "float", "bool") else pa.string(),
                    )
                    if kind in ("date", "timestamp"):
                        values = values.cast(schema.field(col).type)
                    arrays.append(values)
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON string escapes are valid TOML basic strings


def generate_demo(
    out_dir: Path, *, seed: int = 7, n_customers: int = 1500, fmt: str = "csv"
) -> DemoResult:
    """Generate the demo data set into ``out_dir``.

    Args:
        out_dir: Output directory (created if missing).
        seed: Random seed; the same seed, size and format give byte-identical files.
        n_customers: Number of customers (about 3.6 tickets each on average).
        fmt: "csv", "jsonl" or "parquet".

    Returns:
        The written paths and sizes.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {sorted(FORMATS)}, got {fmt!r}")
    if n_customers < 1:
        raise ValueError("n_customers must be positive")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    customers, groups = make_customers(
        random.Random(f"persona-mining-demo:{seed}:customers"), n_customers
    )
    people_rng = random.Random(f"persona-mining-demo:{seed}:people")
    people = [make_person(people_rng) for _ in customers]
    tickets = plan_tickets(seed, customers, groups)
    outcomes = plan_outcomes(seed, tickets, groups)
    n_tickets = len(tickets)
    batches = _ticket_rows(seed, tickets, outcomes, customers, groups, people)
    customers_path, tickets_path = out_dir / f"customers.{fmt}", out_dir / f"tickets.{fmt}"
    _write(
        customers_path,
        fmt,
        CUSTOMER_COLUMNS,
        [[tuple(c[k] for k in CUSTOMER_COLUMNS) for c in customers]],
        {"age": "int", "orders_12m": "int", "returns_12m": "int", "signup_date": "date"},
    )
    _write(
        tickets_path,
        fmt,
        TICKET_COLUMNS,
        batches,
        {
            "created_at": "timestamp",
            "updated_at": "timestamp",
            "csat": "int",
            "resolution_hours": "float",
            "reopened": "bool",
        },
    )

    config_path = out_dir / "persona-mining.toml"
    lines = ["# Demo configuration written by persona-mining's demo generator.", ""]
    for p in PERSONAS:
        lines += [
            "[[personas]]",
            f"name = {_toml_str(p.name)}",
            f"where = {_toml_str(p.rule)}",
            f"description = {_toml_str(p.description)}",
        ]
        lines += ["negative = true", ""] if p.negative else [""]
    config_path.write_text("\n".join(lines), encoding="utf-8")

    counts = {g: groups.count(g) for g in TICKETS_PER_CUSTOMER}
    plan = {
        "company": COMPANY,
        "seed": seed,
        "format": fmt,
        "n_customers": n_customers,
        "n_tickets": n_tickets,
        "customer_counts": counts,
        "window": {
            "start": (WINDOW_END - timedelta(days=WINDOW_DAYS)).isoformat(),
            "end_exclusive": WINDOW_END.isoformat(),
        },
        "files": {
            "customers": customers_path.name,
            "tickets": tickets_path.name,
            "config": config_path.name,
        },
        "personas": [
            {
                "key": p.key,
                "name": p.name,
                "rule": p.rule,
                "description": p.description,
                "negative": p.negative,
                "planted_issues": list(p.planted_issues),
                "n_customers": counts[p.key],
            }
            for p in PERSONAS
        ],
        "issues": ISSUES,
        "base_rates": BASE_RATES,
        "planted_mass": PLANTED_MASS,
        "planted_links": sorted([list(link) for link in planted_links()]),
        "outcomes": {
            "rated_share": RATED_SHARE,
            "everyone": asdict(OUTCOMES),
            "effects": [
                {"persona": persona, "issue": issue, **asdict(mix)}
                for (persona, issue), mix in planted_outcome_effects().items()
            ],
        },
        "persona_shares": PERSONA_SHARES,
        "tickets_per_customer": TICKETS_PER_CUSTOMER,
        "rates": {
            "anonymous": ANONYMOUS_SHARE,
            "preferred_channel": PREFERRED_CHANNEL_SHARE,
            "html_of_email_web": HTML_RATE,
            "quote_of_email_web": QUOTE_RATE,
            "typo": TYPO_RATE,
            "lowercase": LOWERCASE_RATE,
        },
    }
    plan_path = out_dir / "plan.json"
    plan_path.write_text(json.dumps(plan, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return DemoResult(customers_path, tickets_path, config_path, plan_path, n_customers, n_tickets)
