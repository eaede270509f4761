"""The facts of a persona profile beyond its challenges, for every segment at once.

Each function runs a few grouped DuckDB queries over all segments and returns, per segment id,
JSON-ready data (the shapes are documented in docs/warehouse.md, `v_persona_profiles`).
"Everyone" (the `everyone` keys) is everyone *else*: the customers of `customers` outside the
persona (their tickets, for ticket facts), the group the link and negative stages test it
against, so that every figure of a profile compares the persona with the same people. Each
query groups the customers once per segment and once for all of them (`EVERYONE`); everyone
else's counts and sums are all's less the segment's.
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
from persona_mining.personas.shown import MIN_CONTENT_WORDS, content_words_sql

EVERYONE = "\x00everyone"  # the group of all customers, next to the segments
TOP_VALUES = 3
TOP_CHANNELS = 5
EXAMPLES_PER_PROBLEM = 3
EXAMPLE_CHARS = 300
#: The standardized difference of a category all the persona's customers have and no one else
#: has (or the reverse), where the formula divides by zero: larger than any other.
SEPARATED = 100.0
DAY_PARTS = (("night", 0, 6), ("morning", 6, 12), ("afternoon", 12, 18), ("evening", 18, 24))

# Segment members plus every customer once more under EVERYONE.
_GROUPS = f"""(SELECT DISTINCT segment_id AS grp, customer_id FROM customer_segments
    UNION ALL SELECT '{EVERYONE}', customer_id FROM customers)"""


def attribute_facts(con: duckdb.DuckDBPyConnection) -> dict[str, list[dict[str, Any]]]:
    """Per segment: each attribute's values against everyone else's, most distinguishing first.

    The standardized difference of a category is (p - p0) / sqrt((p(1-p) + p0(1-p0)) / 2) for
    the persona's share p and everyone else's p0; an attribute scores its largest category
    difference in absolute value. A number or date scores (mean - mean0) / pooled sd. With
    nobody outside the persona, everyone else's values and the differences are None.
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
    """Per categorical attribute and segment: its values' shares against everyone else's, every
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
        )
        SELECT grp, attribute, value, count(*) AS n
        FROM {_GROUPS} JOIN v USING (customer_id) GROUP BY ALL
        ORDER BY attribute, grp, n DESC, value"""
    ).fetchall()
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for grp, attribute, value, n in rows:
        counts.setdefault((attribute, grp), {})[value] = int(n)
    facts: dict[str, dict[str, dict[str, Any]]] = {}
    for (attribute, sid), found in counts.items():
        if sid == EVERYONE:
            continue
        everyone = counts.get((attribute, EVERYONE), {})
        members, total = sum(found.values()), sum(everyone.values())
        shares = [
            (
                value,
                found.get(value, 0) / members,
                (n - found.get(value, 0)) / (total - members) if total > members else None,
            )
            for value, n in sorted(everyone.items(), key=lambda kv: (-found.get(kv[0], 0), kv[0]))
        ]
        differences = [
            (_proportion_difference(p, p0) if p0 is not None else None, value, p, p0)
            for value, p, p0 in shares
        ]
        best = max(differences, key=lambda d: abs(d[0] or 0.0))
        name = columns[int(attribute[1:])].name
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
    """The standardized difference of two shares; `SEPARATED` (signed) where they are 0 and 1,
    a value every member has and nobody else does, which sets the persona apart the most."""
    spread = math.sqrt((p * (1 - p) + p0 * (1 - p0)) / 2)
    if spread > 0:
        return (p - p0) / spread
    return math.copysign(SEPARATED, p - p0) if p != p0 else 0.0


def _numeric(
    con: duckdb.DuckDBPyConnection, name: str, value_sql: str, kind: str
) -> dict[str, dict[str, Any]]:
    """Per segment: the attribute's mean and median against everyone else's.

    Values are centred on the mean of all customers before they are summed, so that everyone
    else's variance, all's sums less the segment's, keeps its precision (dates in days)."""
    values = f"""(SELECT customer_id, x, x - avg(x) OVER () AS d
        FROM (SELECT customer_id, {value_sql} AS x FROM customers))"""
    rows = con.execute(
        f"""SELECT grp, count(x), avg(x), sum(d), sum(d * d), median(x)
        FROM {_GROUPS} JOIN {values} v USING (customer_id) GROUP BY grp"""
    ).fetchall()
    stats = {
        grp: (int(n), mean, s or 0.0, ss or 0.0, median) for grp, n, mean, s, ss, median in rows
    }
    if EVERYONE not in stats:
        return {}
    all_n, centre, all_s, all_ss, _ = stats.pop(EVERYONE)
    medians = dict(
        con.execute(
            f"""SELECT s.segment_id, median(v.x) FROM segments s, {values} v
            WHERE NOT EXISTS (SELECT 1 FROM customer_segments cs
                WHERE cs.segment_id = s.segment_id AND cs.customer_id = v.customer_id)
            GROUP BY s.segment_id"""
        ).fetchall()
    )
    facts = {}
    for sid, (n, mean, s, ss, median) in stats.items():
        _, sd = _moments(n, s, ss)
        centred0, sd0 = _moments(all_n - n, all_s - s, all_ss - ss)
        mean0 = None if centred0 is None or centre is None else centred0 + centre
        pooled = math.sqrt(((sd or 0.0) ** 2 + (sd0 or 0.0) ** 2) / 2)
        difference = (
            (mean - mean0) / pooled
            if mean is not None and mean0 is not None and pooled > 0
            else None
        )
        facts[sid] = {
            "attribute": name,
            "type": kind,
            "std_diff": difference,
            "persona_mean": _shown(mean, kind),
            "everyone_mean": _shown(mean0, kind),
            "persona_median": _shown(median, kind),
            "everyone_median": _shown(medians.get(sid), kind),
        }
    return facts


def _moments(n: int, total: float, squares: float) -> tuple[float | None, float | None]:
    """Mean and population standard deviation from a count, a sum and a sum of squares."""
    if n <= 0:
        return None, None
    mean = total / n
    return mean, math.sqrt(max(squares / n - mean * mean, 0.0))


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
    """Per segment: channels, contact frequency, time of day and week, repeat contacts, each
    against everyone else's.

    `contacts` is `contact_counts(con)` where the caller has it already.
    """
    contacts = contacts or contact_counts(con)
    facts: dict[str, dict[str, Any]] = {}
    everyone = contacts.get(EVERYONE, (0, 0, 0))
    for sid, (customers, contacting, tickets) in contacts.items():
        if sid != EVERYONE:
            facts[sid] = {
                "contact": {
                    **_contact(customers, contacting, tickets),
                    "everyone": _contact(
                        everyone[0] - customers, everyone[1] - contacting, everyone[2] - tickets
                    ),
                }
            }
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
    counts_of: dict[str, dict[str, dict[str, int]]] = {key: {} for key in facets}
    for key, grp, found, n in con.execute(
        f"""SELECT CASE {which} END AS facet, grp, CASE {value_of} END AS value, count(*) AS n
        FROM (
            SELECT g.grp, {columns}
            FROM {_GROUPS} g JOIN tickets t ON t.customer_id = g.customer_id
        ) GROUP BY GROUPING SETS ({sets})"""
    ).fetchall():
        counts_of[key].setdefault(grp, {})[found] = int(n)
    for key, by_group in counts_of.items():
        base = by_group.get(EVERYONE, {})
        for grp, values in by_group.items():
            if grp == EVERYONE:
                continue
            counted = sum(values.values())
            left = sum(base.values()) - counted
            shares = [
                (value, n / counted, (base.get(value, 0) - n) / left if left else None)
                for value, n in values.items()
            ]
            if key == "time_of_day":
                order = [part for part, _, _ in DAY_PARTS]
                shares.sort(key=lambda s: order.index(s[0]))
            else:
                shares.sort(key=lambda s: (-s[1], s[0]))
            if key == "channels":
                shares = shares[:TOP_CHANNELS]
            facts.setdefault(grp, {})[key] = [
                {"value": value, "persona": share, "everyone": share0}
                for value, share, share0 in shares
            ]
    repeats = {
        grp: (float(value), float(base))
        for grp, value, base in con.execute(
            f"""SELECT g.grp, sum(s.value), sum(s.base) FROM {_GROUPS} g
            JOIN customer_signals s ON s.customer_id = g.customer_id AND s.signal = 'repeat_contacts'
            GROUP BY g.grp"""
        ).fetchall()
    }
    all_repeats, all_measured = repeats.pop(EVERYONE, (0.0, 0.0))
    for grp, (value, measured) in repeats.items():
        others = all_measured - measured
        facts.setdefault(grp, {})["repeat_contacts"] = {
            "share": value / measured if measured else None,
            "everyone": {"share": (all_repeats - value) / others if others else None},
        }
    return facts


def _contact(customers: int, contacting: int, tickets: int) -> dict[str, float | None]:
    return {
        "tickets_per_customer": tickets / customers if customers else None,
        "contacting_share": contacting / customers if customers else None,
        "tickets_per_contacting_customer": tickets / contacting if contacting else None,
    }


def outcome_facts(
    con: duckdb.DuckDBPyConnection, outcomes: Sequence[OutcomeColumn]
) -> dict[str, list[dict[str, Any]]]:
    """Per segment: each outcome column's mean (or share) on its tickets vs everyone else's."""
    facts: dict[str, list[dict[str, Any]]] = {}
    if not outcomes:
        return facts
    # Every outcome in one pass over the tickets: two columns (sum, count) each.
    measures = ", ".join(f"sum({o.value_sql}), count({o.value_sql})" for o in outcomes)
    rows = con.execute(
        f"""SELECT g.grp, {measures}
        FROM {_GROUPS} g JOIN tickets t ON t.customer_id = g.customer_id GROUP BY g.grp"""
    ).fetchall()
    by_group = {grp: values for grp, *values in rows}
    base = by_group.pop(EVERYONE, None) or [None, 0] * len(outcomes)
    for sid, values in by_group.items():
        for i, outcome in enumerate(outcomes):
            total, n = values[2 * i], values[2 * i + 1]
            facts.setdefault(sid, []).append(
                _outcome(
                    outcome,
                    _mean(total, n),
                    _mean(_less(base[2 * i], total), base[2 * i + 1] - n),
                    n,
                )
            )
    return facts


def _mean(total: float | None, n: int) -> float | None:
    return float(total) / n if total is not None and n else None


def _less(total: float | None, part: float | None) -> float | None:
    """All's sum less a segment's (a sum over no value is NULL: nothing to take away)."""
    return None if total is None else float(total) - float(part or 0.0)


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

    The examples are the persona's tickets on the topic closest to the topic's centre that say
    something (`MIN_CONTENT_WORDS` words of letters besides placeholders and handles), or the
    best of the others where none does; their analysed text (PII and names redacted,
    `v_analysed_tickets`; never the raw body nor a text the analysis has not seen), cut to a few
    hundred characters. Outcomes compare the persona's tickets on the topic with everyone
    else's tickets on it.
    """
    with challenge_pairs(con, challenges) as pairs:
        if model_id is None or not pairs:
            return {}
        examples: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for sid, topic, ticket, text in con.execute(
            f"""SELECT segment_id, topic_id, ticket_id, text FROM (
                SELECT c.segment_id, c.topic_id, tt.ticket_id, p.text,
                    least({content_words_sql("p.text")}, $words) AS words,
                    row_number() OVER (PARTITION BY c.segment_id, c.topic_id
                        ORDER BY words DESC, tt.probability DESC NULLS LAST, tt.ticket_id) AS rank
                FROM __challenges c
                JOIN customer_segments cs ON cs.segment_id = c.segment_id
                JOIN tickets t ON t.customer_id = cs.customer_id
                JOIN ticket_topics tt ON tt.ticket_id = t.ticket_id AND tt.model_id = $model
                    AND tt.topic_id = c.topic_id
                JOIN v_analysed_tickets p ON p.ticket_id = t.ticket_id
            ) WHERE rank <= $examples AND (words = $words OR rank = 1)
            ORDER BY segment_id, topic_id, rank""",
            {"model": model_id, "examples": EXAMPLES_PER_PROBLEM, "words": MIN_CONTENT_WORDS},
        ).fetchall():
            examples.setdefault((sid, topic), []).append({"ticket_id": ticket, "text": _cut(text)})
        measured: dict[tuple[str, int], list[dict[str, Any]]] = {}
        if outcomes:
            # Every outcome in one pass over the tickets: x0, x1, ... one column each.
            xs = range(len(outcomes))
            values = ", ".join(f"{o.value_sql} AS x{i}" for i, o in enumerate(outcomes))
            sums = ", ".join(f"sum(x{i}) AS sum{i}, count(x{i}) AS n{i}" for i in xs)
            measures = ", ".join(
                f"sum(o.x{i}), count(o.x{i}), any_value(e.sum{i}), any_value(e.n{i})" for i in xs
            )
            for sid, topic, *found in con.execute(
                f"""WITH on_topic AS (
                    SELECT tt.topic_id, t.customer_id, {values}
                    FROM tickets t JOIN ticket_topics tt ON tt.ticket_id = t.ticket_id AND tt.model_id = ?
                    JOIN customers USING (customer_id)
                ), everyone AS (SELECT topic_id, {sums} FROM on_topic GROUP BY topic_id)
                SELECT c.segment_id, c.topic_id, {measures}
                FROM __challenges c
                JOIN customer_segments cs ON cs.segment_id = c.segment_id
                JOIN on_topic o ON o.customer_id = cs.customer_id AND o.topic_id = c.topic_id
                JOIN everyone e ON e.topic_id = c.topic_id
                GROUP BY ALL""",
                [model_id],
            ).fetchall():
                measured[(sid, topic)] = [
                    _outcome(
                        outcome,
                        _mean(total, n),
                        _mean(_less(all_total, total), all_n - n),
                        n,
                    )
                    for outcome, (total, n, all_total, all_n) in zip(
                        outcomes, _fours(found), strict=True
                    )
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


def _fours(values: Sequence[Any]) -> list[tuple[Any, ...]]:
    return [tuple(values[i : i + 4]) for i in range(0, len(values), 4)]


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1].rstrip() + "…"
