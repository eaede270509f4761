"""The facts of a persona profile beyond its challenges, for every segment at once.

Each function runs a few grouped DuckDB queries over all segments and returns, per segment id,
JSON-ready data (the shapes are documented in docs/warehouse.md, `v_persona_profiles`).
"Everyone" is every customer of `customers` (their tickets, for ticket facts): a profile
describes a persona against the whole customer base, whereas the link and negative stages test
it against everyone *outside* it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from persona_mining.personas.attributes import AttributeColumn, attribute_columns
from persona_mining.personas.outcomes import OutcomeColumn

EVERYONE = "\x00everyone"  # the group of all customers, next to the segments
TOP_VALUES = 3
TOP_CHANNELS = 5
EXAMPLES_PER_PROBLEM = 3
EXAMPLE_CHARS = 300
DAY_PARTS = (("night", 0, 6), ("morning", 6, 12), ("afternoon", 12, 18), ("evening", 18, 24))

# Segment members plus every customer once more under EVERYONE.
_GROUPS = f"""(SELECT DISTINCT segment_id AS grp, customer_id FROM customer_segments
    UNION ALL SELECT '{EVERYONE}', customer_id FROM customers)"""


def attribute_facts(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, Any]]]:
    """Per segment: each attribute's values against everyone's, most distinguishing first.

    The standardized difference of a category is (p - p0) / sqrt((p(1-p) + p0(1-p0)) / 2) for
    the persona's share p and everyone's p0; an attribute scores its largest category
    difference in absolute value. A number or date scores (mean - mean0) / pooled sd.
    """
    facts: dict[str, list[dict[str, Any]]] = {}
    columns = attribute_columns(con)
    categorical = _categorical(con, [c for c in columns if c.kind == "categorical"])
    for column in columns:
        if column.kind == "categorical":
            found = categorical.get(column.name, {})
        else:
            found = _numeric(con, column.name, column.value_sql, column.kind)
        for sid, fact in found.items():
            facts.setdefault(sid, []).append(fact)
    for values in facts.values():
        values.sort(key=lambda f: -abs(f["std_diff"] or 0.0))
    return facts


def _categorical(
    con: duckdb.DuckDBPyConnection, columns: Sequence[AttributeColumn]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per categorical attribute and segment: its values' shares against everyone's, every
    attribute in one pass over the segments' customers."""
    if not columns:
        return {}
    values = ", ".join(
        f"coalesce({c.value_sql}, '(missing)') AS a{i}" for i, c in enumerate(columns)
    )
    unpivoted = ", ".join(f"a{i}" for i in range(len(columns)))
    rows = con.execute(
        f"""WITH v AS (
            UNPIVOT (SELECT customer_id, {values} FROM customers)
            ON {unpivoted} INTO NAME attribute VALUE value
        ), g AS (
            SELECT grp, attribute, value, count(*) AS n
            FROM {_GROUPS} JOIN v USING (customer_id) GROUP BY ALL
        ), shares AS (
            SELECT grp, attribute, value, n / sum(n) OVER (PARTITION BY grp, attribute) AS share
            FROM g
        ), everyone AS (
            SELECT attribute, value, share FROM shares WHERE grp = ?
        )
        SELECT s.attribute, s.grp, e.value, coalesce(p.share, 0), e.share
        FROM (SELECT DISTINCT grp, attribute FROM shares WHERE grp <> ?) s
        JOIN everyone e ON e.attribute = s.attribute
        LEFT JOIN shares p ON p.grp = s.grp AND p.attribute = e.attribute AND p.value = e.value
        ORDER BY s.attribute, s.grp, coalesce(p.share, 0) DESC, e.value""",
        [EVERYONE, EVERYONE],
    ).fetchall()
    by_segment: dict[tuple[str, str], list[tuple[str, float, float]]] = {}
    for attribute, sid, value, share, everyone in rows:
        by_segment.setdefault((attribute, sid), []).append((value, float(share), float(everyone)))
    facts: dict[str, dict[str, dict[str, Any]]] = {}
    for (attribute, sid), shares in by_segment.items():
        name = columns[int(attribute[1:])].name
        differences = [(_proportion_difference(p, p0), value, p, p0) for value, p, p0 in shares]
        best = max(differences, key=lambda d: abs(d[0]))
        facts.setdefault(name, {})[sid] = {
            "attribute": name,
            "type": "categorical",
            "std_diff": best[0],
            "value": best[1],
            "persona": best[2],
            "everyone": best[3],
            "top": [
                {"value": value, "persona": p, "everyone": p0}
                for value, p, p0 in shares[:TOP_VALUES]
            ],
        }
    return facts


def _proportion_difference(p: float, p0: float) -> float:
    spread = math.sqrt((p * (1 - p) + p0 * (1 - p0)) / 2)
    return (p - p0) / spread if spread > 0 else 0.0


def _numeric(
    con: duckdb.DuckDBPyConnection, name: str, value_sql: str, kind: str
) -> dict[str, dict[str, Any]]:
    rows = con.execute(
        f"""WITH v AS (SELECT customer_id, {value_sql} AS x FROM customers)
        SELECT grp, avg(x), stddev_pop(x), median(x), count(x)
        FROM {_GROUPS} JOIN v USING (customer_id) GROUP BY grp"""
    ).fetchall()
    stats = {grp: (mean, sd, median, n) for grp, mean, sd, median, n in rows}
    if EVERYONE not in stats:
        return {}
    mean0, sd0, median0, _ = stats.pop(EVERYONE)
    facts = {}
    for sid, (mean, sd, median, n) in stats.items():
        pooled = math.sqrt(((sd or 0.0) ** 2 + (sd0 or 0.0) ** 2) / 2)
        difference = (mean - mean0) / pooled if n and mean is not None and pooled > 0 else None
        facts[sid] = {
            "attribute": name,
            "type": kind,
            "std_diff": difference,
            "persona_mean": _shown(mean, kind),
            "everyone_mean": _shown(mean0, kind),
            "persona_median": _shown(median, kind),
            "everyone_median": _shown(median0, kind),
        }
    return facts


def _shown(value: float | None, kind: str) -> float | str | None:
    if value is None:
        return None
    if kind == "date":
        return (date(1970, 1, 1) + timedelta(days=round(value))).isoformat()
    return float(value)


def contact_counts(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[int, int, int]]:
    """Per segment, and for everyone (`EVERYONE`): customers, customers with a ticket, and
    their tickets."""
    return {
        grp: (int(customers), int(contacting), int(tickets))
        for grp, customers, contacting, tickets in con.execute(
            # Tickets are counted per customer first: one join of customers, not of tickets.
            f"""SELECT g.grp, count(*), count(p.n), coalesce(sum(p.n), 0)
            FROM {_GROUPS} g
            LEFT JOIN (SELECT customer_id, count(*) AS n FROM tickets GROUP BY customer_id) p
                ON p.customer_id = g.customer_id
            GROUP BY g.grp"""
        ).fetchall()
    }


def behaviour_facts(
    con: duckdb.DuckDBPyConnection, contacts: Mapping[str, tuple[int, int, int]] | None = None
) -> dict[str, dict[str, Any]]:
    """Per segment: channels, contact frequency, time of day and week, repeat contacts.

    `contacts` is `contact_counts(con)` where the caller has it already.
    """
    facts: dict[str, dict[str, Any]] = {}
    everyone: dict[str, Any] = {}

    def put(grp: str, key: str, value: Any) -> None:
        (everyone if grp == EVERYONE else facts.setdefault(grp, {}))[key] = value

    for grp, (customers, contacting, tickets) in (contacts or contact_counts(con)).items():
        put(
            grp,
            "contact",
            {
                "tickets_per_customer": tickets / customers if customers else None,
                "contacting_share": contacting / customers if customers else None,
                "tickets_per_contacting_customer": tickets / contacting if contacting else None,
            },
        )
    parts = " ".join(f"WHEN hour(t.created_at) < {end} THEN '{part}'" for part, _, end in DAY_PARTS)
    facets = {
        "channels": "coalesce(t.channel, '(unknown)')",
        "time_of_day": f"CASE {parts} END",
        "day_of_week": "CASE WHEN isodow(t.created_at) >= 6 THEN 'weekend' ELSE 'weekday' END",
    }
    # Every facet in one pass over the tickets: one grouping set per facet.
    columns = ", ".join(f"{expression} AS {key}" for key, expression in facets.items())
    sets = ", ".join(f"(grp, {key})" for key in facets)
    which = " ".join(f"WHEN grouping({key}) = 0 THEN '{key}'" for key in facets)
    value_of = " ".join(f"WHEN grouping({key}) = 0 THEN {key}" for key in facets)
    shares_of: dict[str, dict[str, dict[str, float]]] = {key: {} for key in facets}
    for key, grp, found, share in con.execute(
        f"""SELECT facet, grp, value, n / sum(n) OVER (PARTITION BY facet, grp) FROM (
            SELECT CASE {which} END AS facet, grp, CASE {value_of} END AS value, count(*) AS n
            FROM (
                SELECT g.grp, {columns}
                FROM {_GROUPS} g JOIN tickets t ON t.customer_id = g.customer_id
            ) GROUP BY GROUPING SETS ({sets})
        )"""
    ).fetchall():
        shares_of[key].setdefault(grp, {})[found] = float(share)
    for key, shares in shares_of.items():
        base = shares.get(EVERYONE, {})
        for grp, values in shares.items():
            ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
            if key == "channels":
                ranked = ranked[:TOP_CHANNELS]
            elif key == "time_of_day":
                order = [part for part, _, _ in DAY_PARTS]
                ranked = sorted(values.items(), key=lambda kv: order.index(kv[0]))
            put(
                grp,
                key,
                [
                    {"value": value, "persona": share, "everyone": base.get(value, 0.0)}
                    for value, share in ranked
                ],
            )
    for grp, repeats, measured in con.execute(
        f"""SELECT g.grp, sum(s.value), sum(s.base) FROM {_GROUPS} g
        JOIN customer_signals s ON s.customer_id = g.customer_id AND s.signal = 'repeat_contacts'
        GROUP BY g.grp"""
    ).fetchall():
        put(grp, "repeat_contacts", {"share": repeats / measured if measured else None})
    for profile in facts.values():
        for key in ("contact", "repeat_contacts"):
            if key in profile and key in everyone:
                profile[key] = {**profile[key], "everyone": everyone[key]}
    return facts


def outcome_facts(
    con: duckdb.DuckDBPyConnection, outcomes: Sequence[OutcomeColumn]
) -> dict[str, list[dict[str, Any]]]:
    """Per segment: each outcome column's mean (or share) on its tickets vs everyone's."""
    facts: dict[str, list[dict[str, Any]]] = {}
    if not outcomes:
        return facts
    # Every outcome in one pass over the tickets: two columns (mean, count) each.
    measures = ", ".join(f"avg({o.value_sql}), count({o.value_sql})" for o in outcomes)
    rows = con.execute(
        f"""SELECT g.grp, {measures}
        FROM {_GROUPS} g JOIN tickets t ON t.customer_id = g.customer_id GROUP BY g.grp"""
    ).fetchall()
    by_group = {grp: values for grp, *values in rows}
    base = by_group.pop(EVERYONE, None)
    for sid, values in by_group.items():
        for i, outcome in enumerate(outcomes):
            mean, n = values[2 * i], values[2 * i + 1]
            facts.setdefault(sid, []).append(
                _outcome(outcome, mean, base[2 * i] if base else None, n)
            )
    return facts


def _outcome(
    outcome: OutcomeColumn, value: float | None, everyone: float | None, tickets: int
) -> dict[str, Any]:
    return {
        "column": outcome.column,
        "kind": outcome.kind,
        "unit": outcome.unit,
        "higher_is_better": outcome.higher_is_better,
        "persona": value,
        "everyone": everyone,
        "tickets": tickets,
    }


@contextmanager
def challenge_pairs(
    con: duckdb.DuckDBPyConnection, challenges: Mapping[str, Sequence[Mapping[str, Any]]]
) -> Iterator[list[tuple[str, int]]]:
    """Every (segment, topic) pair of the personas' challenges, registered as the table
    `__challenges` (segment_id, topic_id) for the length of the block."""
    pairs = [(sid, int(c["topic_id"])) for sid, cs in challenges.items() for c in cs]
    con.register(
        "__challenges",
        pa.table(
            {
                "segment_id": pa.array([sid for sid, _ in pairs], pa.string()),
                "topic_id": pa.array([topic for _, topic in pairs], pa.int64()),
            }
        ),
    )
    try:
        yield pairs
    finally:
        con.unregister("__challenges")


def problem_facts(
    con: duckdb.DuckDBPyConnection,
    challenges: Mapping[str, Sequence[Mapping[str, Any]]],
    model_id: str | None,
    outcomes: Sequence[OutcomeColumn],
) -> dict[str, list[dict[str, Any]]]:
    """Per segment and challenge: keywords, typical tickets (redacted text) and outcomes.

    The examples are the persona's tickets on the topic closest to the topic's centre, their
    analysed text (PII and names redacted, `v_analysed_tickets`; never the raw body nor a text
    the analysis has not seen), cut to a few hundred characters.
    """
    with challenge_pairs(con, challenges) as pairs:
        if model_id is None or not pairs:
            return {}
        examples: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for sid, topic, ticket, text in con.execute(
            """SELECT segment_id, topic_id, ticket_id, text FROM (
                SELECT c.segment_id, c.topic_id, tt.ticket_id, p.text,
                    row_number() OVER (PARTITION BY c.segment_id, c.topic_id
                        ORDER BY tt.probability DESC NULLS LAST, tt.ticket_id) AS rank
                FROM __challenges c
                JOIN customer_segments cs ON cs.segment_id = c.segment_id
                JOIN tickets t ON t.customer_id = cs.customer_id
                JOIN ticket_topics tt ON tt.ticket_id = t.ticket_id AND tt.model_id = ?
                    AND tt.topic_id = c.topic_id
                JOIN v_analysed_tickets p ON p.ticket_id = t.ticket_id
            ) WHERE rank <= ? ORDER BY segment_id, topic_id, rank""",
            [model_id, EXAMPLES_PER_PROBLEM],
        ).fetchall():
            examples.setdefault((sid, topic), []).append({"ticket_id": ticket, "text": _cut(text)})
        measured: dict[tuple[str, int], list[dict[str, Any]]] = {}
        if outcomes:
            # Every outcome in one pass over the tickets: x0, x1, ... one column each.
            xs = range(len(outcomes))
            values = ", ".join(f"{o.value_sql} AS x{i}" for i, o in enumerate(outcomes))
            bases = ", ".join(f"avg(x{i}) AS base{i}" for i in xs)
            measures = ", ".join(f"avg(o.x{i}), any_value(e.base{i}), count(o.x{i})" for i in xs)
            for sid, topic, *found in con.execute(
                f"""WITH on_topic AS (
                    SELECT tt.topic_id, t.customer_id, {values}
                    FROM tickets t JOIN ticket_topics tt ON tt.ticket_id = t.ticket_id AND tt.model_id = ?
                    JOIN customers USING (customer_id)
                ), everyone AS (SELECT topic_id, {bases} FROM on_topic GROUP BY topic_id)
                SELECT c.segment_id, c.topic_id, {measures}
                FROM __challenges c
                JOIN customer_segments cs ON cs.segment_id = c.segment_id
                JOIN on_topic o ON o.customer_id = cs.customer_id AND o.topic_id = c.topic_id
                JOIN everyone e ON e.topic_id = c.topic_id
                GROUP BY ALL""",
                [model_id],
            ).fetchall():
                measured[(sid, topic)] = [
                    _outcome(outcome, found[3 * i], found[3 * i + 1], found[3 * i + 2])
                    for i, outcome in enumerate(outcomes)
                ]
    return {
        sid: [
            {
                "topic_id": int(c["topic_id"]),
                "label": c["label"],
                "keywords": list(c["keywords"] or []),
                "examples": examples.get((sid, int(c["topic_id"])), []),
                "outcomes": measured.get((sid, int(c["topic_id"])), []),
            }
            for c in cs
        ]
        for sid, cs in challenges.items()
    }


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1].rstrip() + "…"
