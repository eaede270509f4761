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

from persona_mining.config import PersonaRule, segment_id
from persona_mining.errors import ConfigError
from persona_mining.warehouse import transaction

#: Id prefix of the segments that `persona-mining discover` finds; rules never use it.
DISCOVERED_PREFIX = "discovered-"


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
    ids = [segment_id(p.name) for p in personas]
    clashes = sorted({i for i in ids if ids.count(i) > 1})
    if clashes:
        raise ConfigError(
            f"personas: names that differ only in punctuation or case clash: {clashes}"
        )
    reserved = [
        p.name for p, i in zip(personas, ids, strict=True) if i.startswith(DISCOVERED_PREFIX)
    ]
    if reserved:
        raise ConfigError(
            f"personas {reserved}: names starting with 'Discovered' are reserved for the "
            "segments `persona-mining discover` finds; rename them in the config"
        )
    for persona in personas:
        _check_rule(con, persona)
    with transaction(con):
        rules = "kind IN ('rule', 'negative') AND NOT starts_with(segment_id, ?)"
        con.execute(
            f"DELETE FROM customer_segments WHERE segment_id IN (SELECT segment_id FROM segments WHERE {rules})",
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
                f"INSERT INTO customer_segments (customer_id, segment_id) "
                f"SELECT customer_id, ? FROM customers WHERE ({persona.where})",
                [sid],
            )
    counts = dict(
        con.execute(
            "SELECT s.segment_id, count(cs.customer_id) FROM segments s "
            "LEFT JOIN customer_segments cs USING (segment_id) GROUP BY s.segment_id"
        ).fetchall()
    )
    return SegmentsResult(
        segments={sid: counts.get(sid, 0) for sid in ids}, seconds=time.perf_counter() - started
    )


def _check_rule(con: duckdb.DuckDBPyConnection, persona: PersonaRule) -> None:
    error: duckdb.Error | None = None
    try:
        described = con.execute(
            f"DESCRIBE SELECT ({persona.where}) AS matches FROM customers"
        ).fetchall()
        dtype = described[0][1]
        message = f"it gives {dtype}, not BOOLEAN"
    except duckdb.Error as e:
        dtype, message, error = None, str(e).splitlines()[0], e
    if dtype != "BOOLEAN":
        raise ConfigError(
            f"persona {persona.name!r}: its rule `{persona.where}` is not a valid boolean expression "
            f"over the customers table ({message}); fix `where` in the config "
            '(`persona-mining sql "DESCRIBE customers"` lists the columns)'
        ) from error
