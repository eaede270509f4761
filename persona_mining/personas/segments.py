"""Stage 5, segments: personas defined as rules over the `customers` table.

A rule is a DuckDB boolean expression written by whoever owns the config file (never ticket
text); it is checked on its own before use, so that a typo is reported with the persona's
name rather than as a broken query.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from persona_mining.config import PersonaRule, segment_id
from persona_mining.config.checks import persona_rule_problems
from persona_mining.config.recorded import DISCOVERED_PREFIX
from persona_mining.errors import ConfigError
from persona_mining.warehouse import transaction

__all__ = [
    "DISCOVERED_PREFIX",
    "SegmentsResult",
    "build_segments",
    "segment_masks",
    "sorted_keys",
    "topic_positions",
]


@dataclass(frozen=True)
class SegmentsResult:
    """What one segments call did: customers per segment id."""

    segments: dict[str, int]
    seconds: float


def build_segments(
    con: duckdb.DuckDBPyConnection, *, personas: Sequence[PersonaRule]
) -> SegmentsResult:
    """Rebuild the rule-based segments and their members from the config's personas.

    Discovered segments (ids starting with `DISCOVERED_PREFIX`, kind 'discovered', or
    'negative' when the data flags them) are left as they are until the next discovery.

    Raises:
        ConfigError: a rule does not parse, names a missing column, or is not boolean.
    """
    started = time.perf_counter()
    problems = persona_rule_problems(con, personas)
    if problems:
        raise ConfigError("\n".join(problems))
    ids = [segment_id(p.name) for p in personas]
    # Every rule's members, as (customer_id, segment_id) rows, evaluated once. Only the rows
    # that change are deleted and inserted: a nightly run changes few, and deleting a
    # million-customer warehouse's stored rows to write them again cost 0.6 s of its commit.
    members = " UNION ALL ".join(
        f"SELECT customer_id, ?::VARCHAR FROM customers WHERE ({p.where})" for p in personas
    )
    with transaction(con):
        con.execute(
            "CREATE OR REPLACE TEMP TABLE __rule_members (customer_id VARCHAR, segment_id VARCHAR)"
        )
        if personas:
            con.execute(f"INSERT INTO __rule_members {members}", ids)
        rules = "kind IN ('rule', 'negative') AND NOT starts_with(segment_id, ?)"
        con.execute(
            f"""DELETE FROM customer_segments cs
            WHERE cs.segment_id IN (SELECT segment_id FROM segments WHERE {rules})
                AND NOT EXISTS (SELECT 1 FROM __rule_members m
                    WHERE m.customer_id = cs.customer_id AND m.segment_id = cs.segment_id)""",
            [DISCOVERED_PREFIX],
        )
        con.execute(f"DELETE FROM segments WHERE {rules}", [DISCOVERED_PREFIX])
        for persona, sid in zip(personas, ids, strict=True):
            con.execute(
                "INSERT INTO segments (segment_id, name, kind, description, rule) VALUES (?, ?, ?, ?, ?)",
                [
                    sid,
                    persona.name,
                    "negative" if persona.negative else "rule",
                    persona.description,
                    persona.where,
                ],
            )
        con.execute(
            """INSERT INTO customer_segments (customer_id, segment_id)
            SELECT m.customer_id, m.segment_id FROM __rule_members m
            WHERE NOT EXISTS (SELECT 1 FROM customer_segments cs
                WHERE cs.customer_id = m.customer_id AND cs.segment_id = m.segment_id)"""
        )
        con.execute("DROP TABLE __rule_members")
    counts = dict(
        con.execute(
            "SELECT s.segment_id, count(cs.customer_id) FROM segments s "
            "LEFT JOIN customer_segments cs USING (segment_id) GROUP BY s.segment_id"
        ).fetchall()
    )
    return SegmentsResult(
        segments={sid: counts.get(sid, 0) for sid in ids}, seconds=time.perf_counter() - started
    )


def sorted_keys(ids: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The distinct keys of rows sorted by key, and each row's index among them.

    The statistics stages read per customer x topic rows from the warehouse sorted by customer
    (DuckDB's binary collation is Python's string order); a dictionary lookup per row costs
    seconds at a million rows, this costs milliseconds.
    """
    ids = np.asarray(ids, dtype=object)
    if not len(ids):
        return [], np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    runs = np.diff(np.r_[starts, len(ids)])
    return [str(c) for c in ids[starts]], np.repeat(np.arange(len(starts)), runs)


def topic_positions(topics: Sequence[int], row_topics: np.ndarray) -> np.ndarray:
    """Each row's topic as its position in `topics` (sorted ids), -1 for a topic not in it
    (unclustered, merged or ignored)."""
    topic_ids = np.asarray(topics, dtype=np.int64)
    rows = np.asarray(row_topics, dtype=np.int64)
    if not len(topic_ids):
        return np.full(len(rows), -1, dtype=np.int64)
    position = np.minimum(np.searchsorted(topic_ids, rows), len(topic_ids) - 1)
    return np.where(topic_ids[position] == rows, position, -1)


def segment_masks(
    con: duckdb.DuckDBPyConnection, customers: Sequence[str]
) -> dict[str, np.ndarray]:
    """Every segment (in id order, empty ones too) as a mask over `customers`."""
    masks = {
        sid: np.zeros(len(customers), dtype=bool)
        for (sid,) in con.execute("SELECT segment_id FROM segments ORDER BY segment_id").fetchall()
    }
    # Each member's position among `customers` by a join in DuckDB: a dictionary lookup per
    # member cost a third of a second at a million customers. Arrow's strings, not numpy's
    # fixed-width ones: those drop trailing NUL characters, and two ids must never be taken
    # for one.
    con.register(
        "__positions",
        pa.table(
            {
                "customer_id": pa.array(customers, type=pa.string()),
                "position": pa.array(np.arange(len(customers), dtype=np.int64)),
            }
        ),
    )
    try:
        members = con.execute(
            """SELECT cs.segment_id, p.position FROM customer_segments cs
            JOIN __positions p ON p.customer_id = cs.customer_id ORDER BY cs.segment_id"""
        ).fetchnumpy()
    finally:
        con.unregister("__positions")
    position = np.asarray(members["position"], dtype=np.int64)
    names, segment = sorted_keys(members["segment_id"])
    for i, sid in enumerate(names):
        if sid in masks:
            masks[sid][position[segment == i]] = True
    return masks
