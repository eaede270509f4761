"""Small hand-made warehouses: customers, one topic model, tickets with prepared text.

The rows go straight into the tables the later stages read, so that a test of the discover,
negative or personas stage states its data in a few lines and knows every number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import duckdb

MODEL = "m1"


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
    con.executemany(
        f"INSERT INTO customers (source, ingested_at, {', '.join(names)}) "
        f"VALUES ('test', now(), {', '.join('?' for _ in names)})",
        [[row.get(n) for n in names] for row in rows],
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
    columns = ", ".join(f'"{e}"' for e in extras)
    con.executemany(
        "INSERT INTO tickets (ticket_id, customer_id, created_at, updated_at, channel, body, source, "
        f"raw_hash, row_hash, ingested_at{', ' + columns if extras else ''}) "
        f"VALUES (?, ?, ?, ?, ?, ?, 'test', 'h', 'h', now(){', ?' * len(extras)})",
        [
            [t.ticket_id, t.customer_id, t.created_at, t.created_at, t.channel, t.body or t.text]
            + [t.extra.get(e) for e in extras]
            for t in tickets
        ],
    )
    con.executemany(
        "INSERT INTO prepared_tickets (ticket_id, raw_hash, text, text_hash, lemmas, noun_phrases, "
        "n_sentences, spacy_model, prepared_at) VALUES (?, 'h', ?, ?, '', [], 1, 'test', now())",
        [[t.ticket_id, t.text, f"hash-{t.ticket_id}"] for t in tickets],
    )
    # As if the analysis had seen every ticket (no names in synthetic text to redact).
    con.executemany(
        "INSERT INTO text_analysis (text_hash, spacy_model, text, lemmas, noun_phrases, questions, "
        "analysed_at) VALUES (?, 'test', ?, '', [], [], now())",
        [[f"hash-{t.ticket_id}", t.text] for t in tickets],
    )
    con.executemany(
        "INSERT INTO ticket_topics (ticket_id, model_id, topic_id, probability, text_hash) "
        "VALUES (?, ?, ?, 1.0, ?)",
        [[t.ticket_id, MODEL, t.topic_id, f"hash-{t.ticket_id}"] for t in tickets],
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
    con.executemany(
        "INSERT INTO customer_segments (customer_id, segment_id) VALUES (?, ?)",
        [[c, segment_id] for c in customers],
    )
