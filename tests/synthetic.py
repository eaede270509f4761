"""Small hand-made warehouses: customers, one topic model, tickets with prepared text.

The rows go straight into the tables the later stages read, so that a test of the discover,
negative or personas stage states its data in a few lines and knows every number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pyarrow as pa

MODEL = "m1"


def _insert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: Mapping[str, Sequence[object]],
    constants: Mapping[str, str] | None = None,
) -> None:
    """Insert the rows (column -> values) and `constants` (column -> SQL) in one statement.

    The values go in as one Arrow table: a statement per row (executemany) takes DuckDB about
    a millisecond each, seconds for a few thousand tickets.
    """
    constants = constants or {}
    data = pa.table({name: pa.array(list(values)) for name, values in rows.items()})
    view = f"__synthetic_{table}"
    con.register(view, data)
    try:
        columns = ", ".join(f'"{c}"' for c in [*rows, *constants])
        values = ", ".join([*(f'"{c}"' for c in rows), *constants.values()])
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {values} FROM {view}")
    finally:
        con.unregister(view)


@dataclass(frozen=True)
class Ticket:
    """A ticket with its topic under the model and its prepared (redacted) text."""

    ticket_id: str
    customer_id: str | None
    topic_id: int
    created_at: datetime = datetime(2026, 1, 1, 12)
    text: str = "A question about my order."
    channel: str = "email"
    extra: Mapping[str, object] = field(default_factory=dict)
    body: str | None = None  # the raw body; the prepared text when None


def add_customers(
    con: duckdb.DuckDBPyConnection, rows: Sequence[Mapping[str, object]], types: Mapping[str, str]
) -> None:
    """Customers with the given attribute columns (name -> DuckDB type)."""
    for name, dtype in types.items():
        con.execute(f'ALTER TABLE customers ADD COLUMN "{name}" {dtype}')
    names = ["customer_id", *types]
    _insert(
        con,
        "customers",
        {n: [row.get(n) for row in rows] for n in names},
        {"source": "'test'", "ingested_at": "now()"},
    )


def add_model(
    con: duckdb.DuckDBPyConnection, topics: Mapping[int, tuple[str, Sequence[str]]]
) -> None:
    """A topic model with these topics (id -> label, keywords) plus the unclustered topic."""
    con.execute(
        "INSERT INTO topic_models (model_id, created_at, path, embedding_model, n_tickets, n_topics, params) "
        "VALUES (?, now(), '/nowhere', 'e', 0, ?, '{}')",
        [MODEL, len(topics)],
    )
    con.executemany(
        "INSERT INTO topics (model_id, topic_id, label, keywords, size) VALUES (?, ?, ?, ?, 0)",
        [[MODEL, -1, "Unclustered", []]]
        + [[MODEL, t, label, list(words)] for t, (label, words) in topics.items()],
    )


def add_tickets(
    con: duckdb.DuckDBPyConnection,
    tickets: Sequence[Ticket],
    extra_types: Mapping[str, str] | None = None,
) -> None:
    """Tickets, their prepared text and their topic under the model."""
    for name, dtype in (extra_types or {}).items():
        con.execute(f'ALTER TABLE tickets ADD COLUMN "{name}" {dtype}')
    extras = list(extra_types or {})
    ids = [t.ticket_id for t in tickets]
    hashes = [f"hash-{t.ticket_id}" for t in tickets]
    texts = [t.text for t in tickets]
    _insert(
        con,
        "tickets",
        {
            "ticket_id": ids,
            "customer_id": [t.customer_id for t in tickets],
            "created_at": [t.created_at for t in tickets],
            "updated_at": [t.created_at for t in tickets],
            "channel": [t.channel for t in tickets],
            "body": [t.body or t.text for t in tickets],
            **{e: [t.extra.get(e) for t in tickets] for e in extras},
        },
        {"source": "'test'", "raw_hash": "'h'", "row_hash": "'h'", "ingested_at": "now()"},
    )
    _insert(
        con,
        "prepared_tickets",
        {"ticket_id": ids, "text": texts, "text_hash": hashes},
        {
            "raw_hash": "'h'",
            "lemmas": "''",
            "noun_phrases": "[]",
            "n_sentences": "1",
            "spacy_model": "'test'",
            "prepared_at": "now()",
        },
    )
    # As if the analysis had seen every ticket (no names in synthetic text to redact).
    _insert(
        con,
        "text_analysis",
        {"text_hash": hashes, "text": texts},
        {
            "spacy_model": "'test'",
            "lemmas": "''",
            "noun_phrases": "[]",
            "questions": "[]",
            "analysed_at": "now()",
        },
    )
    _insert(
        con,
        "ticket_topics",
        {
            "ticket_id": ids,
            "topic_id": [t.topic_id for t in tickets],
            "text_hash": hashes,
        },
        {"model_id": f"'{MODEL}'", "probability": "1.0"},
    )


def add_segment(
    con: duckdb.DuckDBPyConnection,
    segment_id: str,
    customers: Sequence[str],
    *,
    kind: str = "rule",
    name: str | None = None,
) -> None:
    """A segment with these members (as the segments or discover stage would store it)."""
    con.execute(
        "INSERT INTO segments (segment_id, name, kind, description, rule) VALUES (?, ?, ?, '', NULL)",
        [segment_id, name or segment_id, kind],
    )
    _insert(
        con,
        "customer_segments",
        {"customer_id": list(customers), "segment_id": [segment_id] * len(customers)},
    )
