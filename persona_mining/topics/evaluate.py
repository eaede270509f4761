"""Topic quality against a label column of the tickets: how well topics recover known intents.

Scores (all over tickets assigned by the current model):

- `nmi`, `ari`: normalised mutual information and adjusted Rand index between topics and
  labels, unclustered tickets counted as one more cluster (so a model cannot score by leaving
  hard tickets out);
- `purity`: share of clustered tickets whose topic's majority label is their own;
- `coverage`: share of tickets in a real topic rather than "Unclustered";
- how many tickets each path took: a known issue, a discovered topic, or none.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import duckdb

from persona_mining.errors import ConfigError, StageError
from persona_mining.topics.labels import UNCLUSTERED
from persona_mining.topics.model import current_model
from persona_mining.warehouse import quote_identifier, table_columns


@dataclass(frozen=True)
class EvaluationResult:
    """Topic quality scores of the current model against a label column."""

    model_id: str
    labels_column: str
    tickets: int
    labels: int
    topics: int
    nmi: float
    ari: float
    purity: float
    coverage: float
    known_tickets: int = 0
    discovered_tickets: int = 0
    unclustered_tickets: int = 0


def evaluate_topics(con: duckdb.DuckDBPyConnection, *, labels_column: str) -> EvaluationResult:
    """Score the current topics against `tickets.<labels_column>`.

    Raises:
        ConfigError: the column is not a column of `tickets`.
        StageError: there is no topic model, or no ticket has a label.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    columns = table_columns(con, "tickets")
    if labels_column not in columns:
        raise ConfigError(
            f"evaluate: tickets has no column {labels_column!r}; ingest the label column with the "
            f"tickets (extra columns are kept) — available: {sorted(columns)}"
        )
    current = current_model(con)
    if current is None:
        raise StageError("evaluate: no topic model yet; run `persona-mining run` first")
    rows = con.execute(
        f"""SELECT tt.topic_id, t.{quote_identifier(labels_column)}::VARCHAR
        FROM v_ticket_topics tt JOIN tickets t USING (ticket_id)
        WHERE t.{quote_identifier(labels_column)} IS NOT NULL"""
    ).fetchall()
    if not rows:
        raise StageError(f"evaluate: no assigned ticket has a value in {labels_column!r}")
    topics = [r[0] for r in rows]
    labels = [r[1] for r in rows]
    by_topic: dict[int, Counter[str]] = defaultdict(Counter)
    for topic, label in rows:
        if topic != UNCLUSTERED:
            by_topic[topic][label] += 1
    clustered = sum(sum(c.values()) for c in by_topic.values())
    paths = con.execute(
        """SELECT count(*) FILTER (WHERE tp.known), count(*) FILTER (WHERE NOT tp.known AND tt.topic_id <> ?),
                  count(*) FILTER (WHERE tt.topic_id = ?)
        FROM v_ticket_topics tt JOIN topics tp ON tp.model_id = tt.model_id AND tp.topic_id = tt.topic_id""",
        [UNCLUSTERED, UNCLUSTERED],
    ).fetchall()[0]
    majority = sum(c.most_common(1)[0][1] for c in by_topic.values())
    return EvaluationResult(
        model_id=current[0],
        labels_column=labels_column,
        tickets=len(rows),
        labels=len(set(labels)),
        topics=len(by_topic),
        nmi=float(normalized_mutual_info_score(labels, topics)),
        ari=float(adjusted_rand_score(labels, topics)),
        purity=majority / clustered if clustered else 0.0,
        coverage=clustered / len(rows),
        known_tickets=paths[0],
        discovered_tickets=paths[1],
        unclustered_tickets=paths[2],
    )
