"""Topic quality against a label column of the tickets: how well topics recover known intents.

Scores (over every prepared ticket with a label; one that the topics left out, for its
language or for want of text, counts as unclustered and is counted apart):

- `nmi`, `ari`: normalised mutual information and adjusted Rand index between topics and
  labels, unclustered tickets counted as one more cluster (so a model cannot score by leaving
  hard tickets out);
- `purity`: share of clustered tickets whose topic's majority label is their own;
- `coverage`: share of tickets in a real topic rather than "Unclustered";
- `label_support` and `faithful_share`: whether each topic's label says what its tickets say
  (see `label_faithfulness`); these need no labels column, so they also check a desk without
  one, and they catch what NMI cannot: a pure topic with a misleading name;
- how many tickets each path took: a known issue, a discovered topic, or none.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass

import duckdb
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from persona_mining.errors import ConfigError, StageError
from persona_mining.text.pii import PLACEHOLDER_RE
from persona_mining.topics.labels import UNCLUSTERED
from persona_mining.topics.model import current_model
from persona_mining.warehouse import quote_identifier, table_columns


@dataclass(frozen=True)
class EvaluationResult:
    """Topic quality scores of the current model against a label column."""

    model_id: str
    labels_column: str
    level: str
    tickets: int
    labels: int
    topics: int
    nmi: float
    ari: float
    purity: float
    coverage: float
    label_support: float
    faithful_share: float
    known_tickets: int = 0
    discovered_tickets: int = 0
    unclustered_tickets: int = 0
    left_out_tickets: int = 0


#: A topic is faithfully labelled when at least this share of its tickets contain every head
#: word of its label.
FAITHFUL_SUPPORT = 0.5
_WORD = re.compile(r"[a-z0-9]+")
_LETTER = re.compile(r"[a-z]")
_BATCH = 10_000


@dataclass(frozen=True)
class LabelFaithfulness:
    """How far the current topics' labels are borne out by their own tickets' text.

    Attributes:
        topics: topics scored (every topic of the current model with tickets, "Unclustered"
            excepted).
        label_support: mean over those topics of the share of the topic's tickets that contain
            all of its label's head words.
        faithful_share: share of those topics whose support is at least `FAITHFUL_SUPPORT`.
    """

    topics: int
    label_support: float
    faithful_share: float


def head_words(text: str) -> frozenset[str]:
    """The content words of a label or a ticket, reduced so that the two can be compared.

    Placeholders of redacted PII (`[NAME]`, `[EMAIL]`) are dropped, the rest lower-cased and
    split on anything but letters and digits; English stop words, numbers and one-letter
    tokens are dropped, and a trailing "s" is stripped from words longer than three letters
    (not from "-ss", "-us", "-is": "address", "status", "analysis"), a crude plural rule
    applied to both sides alike ("refunds" = "refund").
    """
    words = set()
    for word in _WORD.findall(PLACEHOLDER_RE.sub(" ", text).lower()):
        if len(word) < 2 or word in ENGLISH_STOP_WORDS or not _LETTER.search(word):
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
        words.add(word)
    return frozenset(words)


def label_faithfulness(con: duckdb.DuckDBPyConnection) -> LabelFaithfulness:
    """Score the current model's labels against the prepared text of their own tickets.

    A label promises what most of its topic's tickets are about. For each topic (not
    "Unclustered") its head words (`head_words` of the label; " / " in a fallback label is
    only punctuation, so every part counts) are looked up in each of its tickets, in the
    prepared text and, for the tickets the analysis has seen (the label samples and the tickets
    shown), in its lemmas (so "bought" meets a label's "buy" where spaCy lemmatised).
    A topic's support is the share of its tickets that contain every head word; a label with
    no head word at all ("Topic 7") names nothing checkable and scores 0. Tickets are read in
    batches, so memory does not grow with the warehouse.

    Raises:
        StageError: there is no topic model.
    """
    if current_model(con) is None:
        raise StageError("evaluate: no topic model yet; run `persona-mining run` first")
    cursor = con.execute(
        """SELECT tt.topic_id, tt.topic_label, p.text, coalesce(a.lemmas, '')
        FROM v_ticket_topics tt JOIN prepared_tickets p USING (ticket_id)
        LEFT JOIN text_analysis a USING (text_hash)
        WHERE tt.topic_id <> ?""",
        [UNCLUSTERED],
    )
    label_words: dict[int, frozenset[str]] = {}
    tickets: Counter[int] = Counter()
    supported: Counter[int] = Counter()
    while batch := cursor.fetchmany(_BATCH):
        for topic, label, text, lemmas in batch:
            wanted = label_words.get(topic)
            if wanted is None:
                wanted = label_words[topic] = head_words(label or "")
            tickets[topic] += 1
            if wanted and wanted <= head_words(f"{text} {lemmas}"):
                supported[topic] += 1
    supports = [supported[t] / n for t, n in tickets.items()]
    return LabelFaithfulness(
        topics=len(supports),
        label_support=sum(supports) / len(supports) if supports else 0.0,
        faithful_share=(
            sum(s >= FAITHFUL_SUPPORT for s in supports) / len(supports) if supports else 0.0
        ),
    )


def evaluate_topics(
    con: duckdb.DuckDBPyConnection, *, labels_column: str, level: str = "issue"
) -> EvaluationResult:
    """Score the current topics against `tickets.<labels_column>`, and their labels' faithfulness.

    NMI, ARI, purity and coverage compare the topics with the labels column (see the module
    docstring); at `level` "theme" they compare the themes (each ticket in its topic's theme,
    the unclustered ones in none) with it instead, a coarser column (categories, scenarios),
    and `topics` counts the themes. `label_support` and `faithful_share` (see
    `label_faithfulness`) compare each topic's label with its tickets' text, over every
    assigned ticket whether labelled or not, at either level.

    Raises:
        ConfigError: the column is not a column of `tickets`, or `level` is not "issue" or
            "theme".
        StageError: there is no topic model, no ticket has a label, or (at the theme level)
            the model has no themes.
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    columns = table_columns(con, "tickets")
    if not labels_column:
        raise ConfigError(
            "evaluate: give --labels-column COLUMN, the ticket column holding known labels "
            f"(intents, categories) — the tickets have: {sorted(columns)}"
        )
    if labels_column not in columns:
        raise ConfigError(
            f"evaluate: tickets has no column {labels_column!r}; ingest the label column with the "
            f"tickets (extra columns are kept) — available: {sorted(columns)}"
        )
    if level not in ("issue", "theme"):
        raise ConfigError(f"evaluate: --level {level!r}: use issue or theme")
    current = current_model(con)
    if current is None:
        raise StageError("evaluate: no topic model yet; run `persona-mining run` first")
    unit = (
        "tt.topic_id"
        if level == "issue"
        else f"CASE WHEN tt.topic_id = {UNCLUSTERED} THEN {UNCLUSTERED} ELSE tt.group_id END"
    )
    # A prepared ticket the topics left out (another language, no text left after cleaning)
    # is scored as unclustered: a model cannot score by leaving hard tickets out.
    rows = con.execute(
        f"""SELECT CASE WHEN tt.ticket_id IS NULL THEN {UNCLUSTERED} ELSE {unit} END,
            t.{quote_identifier(labels_column)}::VARCHAR, tt.ticket_id IS NULL
        FROM tickets t JOIN prepared_tickets p USING (ticket_id)
        LEFT JOIN v_ticket_topics tt USING (ticket_id)
        WHERE t.{quote_identifier(labels_column)} IS NOT NULL"""
    ).fetchall()
    if not rows:
        raise StageError(f"evaluate: no prepared ticket has a value in {labels_column!r}")
    if any(r[0] is None for r in rows):
        raise StageError(
            "evaluate: the current topic model has no themes; fit one with `persona-mining run "
            "--refit`"
        )
    topics = [r[0] for r in rows]
    labels = [r[1] for r in rows]
    by_topic: dict[int, Counter[str]] = defaultdict(Counter)
    for topic, label, _ in rows:
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
    faithfulness = label_faithfulness(con)
    return EvaluationResult(
        model_id=current[0],
        labels_column=labels_column,
        level=level,
        tickets=len(rows),
        labels=len(set(labels)),
        topics=len(by_topic),
        nmi=float(normalized_mutual_info_score(labels, topics)),
        ari=float(adjusted_rand_score(labels, topics)),
        purity=majority / clustered if clustered else 0.0,
        coverage=clustered / len(rows),
        label_support=faithfulness.label_support,
        faithful_share=faithfulness.faithful_share,
        known_tickets=paths[0],
        discovered_tickets=paths[1],
        unclustered_tickets=paths[2],
        left_out_tickets=sum(1 for *_, left_out in rows if left_out),
    )
