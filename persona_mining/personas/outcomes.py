"""Ticket outcome columns, found by name: satisfaction, resolution time, reopened, escalated.

Help desks export these under many names (`CSAT`, `Customer Satisfaction Rating`,
`time_to_resolution`, `reopened`, `escalated_flag`, ...). Ingest keeps every input column in
`tickets` under its normalised name and type; this module recognises the useful ones by name
and type, and gives each a per-ticket SQL value, so that profiles and negative personas can
compare a segment with everyone else wherever the data has them.

- csat: a numeric column whose name contains `csat` or `satisfaction` (higher is better).
- resolution_time: a column whose name contains `resol` (resolution, resolved): a number as
  recorded (in hours when the name also says `hour`), an INTERVAL in hours, or a TIMESTAMP/DATE taken as the resolution moment (hours
  since `created_at`; negative spans are unknown).
- reopened / escalated: a column whose name contains `reopen` / `escalat`: BOOLEAN, a number
  (> 0 is yes) or text (yes/no, true/false, y/n, 1/0).

The first matching column of each kind (in table order) is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from persona_mining.config import TICKET_COLUMNS
from persona_mining.warehouse import quote_identifier, table_columns

#: Ticket columns that are the warehouse's own, never outcomes.
_OWN_COLUMNS = frozenset((*TICKET_COLUMNS, "source", "raw_hash", "row_hash", "ingested_at"))
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
_UNSIGNED = ("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")
_YES = "('true', 'yes', 'y', 't', '1')"
_NO = "('false', 'no', 'n', 'f', '0')"


@dataclass(frozen=True)
class OutcomeColumn:
    """A ticket column recognised as an outcome, with its per-ticket value as SQL.

    Attributes:
        column: the column of `tickets`.
        kind: csat, resolution_time, reopened or escalated.
        value_sql: a DOUBLE expression over the tickets alias `t`; NULL when unknown. For
            reopened/escalated it is 1.0 or 0.0.
        unit: how to read the value: "rating", "hours", "as recorded" or "share".
        higher_is_better: True for satisfaction, False for the others.
        low: smallest observed value (csat only), for the low-rating threshold.
        high: largest observed value (csat only).
    """

    column: str
    kind: str
    value_sql: str
    unit: str
    higher_is_better: bool
    low: float | None = None
    high: float | None = None


def outcome_columns(con: duckdb.DuckDBPyConnection) -> list[OutcomeColumn]:
    """The outcome columns of `tickets`, at most one per kind."""
    found: dict[str, OutcomeColumn] = {}
    for name, dtype in table_columns(con, "tickets").items():
        if name in _OWN_COLUMNS:
            continue
        column = _recognise(name, dtype.upper())
        if column is not None and column.kind not in found:
            found[column.kind] = column
    if "csat" in found:
        csat = found["csat"]
        row = con.execute(
            f"SELECT min({csat.value_sql}), max({csat.value_sql}) FROM tickets t"
        ).fetchone()
        low, high = row if row else (None, None)
        found["csat"] = OutcomeColumn(
            csat.column, csat.kind, csat.value_sql, csat.unit, True, low=low, high=high
        )
    return list(found.values())


def low_rating_threshold(column: OutcomeColumn, fraction: float) -> float | None:
    """The rating at or below which a satisfaction rating counts as low (bottom `fraction`)."""
    if column.low is None or column.high is None or column.high <= column.low:
        return None
    return float(column.low + fraction * (column.high - column.low))


def _recognise(name: str, dtype: str) -> OutcomeColumn | None:
    lowered = name.lower()
    col = f"t.{quote_identifier(name)}"
    numeric = dtype.startswith(_NUMERIC) or dtype.startswith(_UNSIGNED)
    if ("csat" in lowered or "satisfaction" in lowered) and numeric:
        return OutcomeColumn(name, "csat", f"CAST({col} AS DOUBLE)", "rating", True)
    if "resol" in lowered:
        if numeric:
            unit = "hours" if "hour" in lowered else "as recorded"
            return OutcomeColumn(name, "resolution_time", f"CAST({col} AS DOUBLE)", unit, False)
        if dtype == "INTERVAL":
            return OutcomeColumn(name, "resolution_time", f"epoch({col}) / 3600.0", "hours", False)
        if dtype.startswith(("TIMESTAMP", "DATE")):
            span = f"(epoch(CAST({col} AS TIMESTAMP)) - epoch(t.created_at)) / 3600.0"
            return OutcomeColumn(
                name,
                "resolution_time",
                f"CASE WHEN {span} >= 0 THEN {span} END",
                "hours",
                False,
            )
        return None
    for marker, kind in (("reopen", "reopened"), ("escalat", "escalated")):
        if marker in lowered:
            value = _flag_sql(col, dtype, numeric)
            return OutcomeColumn(name, kind, value, "share", False) if value else None
    return None


def _flag_sql(col: str, dtype: str, numeric: bool) -> str | None:
    if dtype == "BOOLEAN":
        return f"CAST({col} AS DOUBLE)"
    if numeric:
        return f"CASE WHEN {col} IS NULL THEN NULL WHEN {col} > 0 THEN 1.0 ELSE 0.0 END"
    if dtype == "VARCHAR":
        text = f"lower(trim({col}))"
        return f"CASE WHEN {text} IN {_YES} THEN 1.0 WHEN {text} IN {_NO} THEN 0.0 END"
    return None
