"""Customer attribute columns, classified for profiles and discovery.

Every column of `customers` but the id and ingest bookkeeping is an attribute. Numbers are
numeric, dates and timestamps are dates (compared in days), text and booleans are categorical;
a categorical column with more than `max_categories` values that is mostly unique (ids, names,
emails) says nothing about a segment and is left out, as are constant columns and other types.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from persona_mining.warehouse import quote_identifier, table_columns

BOOKKEEPING = frozenset({"customer_id", "source", "ingested_at"})
_NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
)
_DATES = ("DATE", "TIMESTAMP")


@dataclass(frozen=True)
class AttributeColumn:
    """A customer attribute and how to read it.

    Attributes:
        name: the column of `customers`.
        kind: "numeric", "date" or "categorical".
        value_sql: SQL over `customers` giving a DOUBLE (numeric, date in days since 1970) or a
            VARCHAR (categorical).
    """

    name: str
    kind: str
    value_sql: str


def attribute_columns(
    con: duckdb.DuckDBPyConnection, *, max_categories: int = 30
) -> list[AttributeColumn]:
    """The customer attributes worth describing a segment by, in table order."""
    total = con.execute("SELECT count(*) FROM customers").fetchone()
    n = int(total[0]) if total else 0
    found = []
    for name, dtype in table_columns(con, "customers").items():
        if name in BOOKKEEPING:
            continue
        column = quote_identifier(name)
        upper = dtype.upper()
        if upper.startswith(_NUMERIC):
            kind, value = "numeric", f"CAST({column} AS DOUBLE)"
        elif upper.startswith(_DATES):
            kind, value = "date", f"CAST(epoch(CAST({column} AS TIMESTAMP)) / 86400.0 AS DOUBLE)"
        elif upper in ("VARCHAR", "BOOLEAN"):
            kind, value = "categorical", f"CAST({column} AS VARCHAR)"
        else:
            continue
        distinct = con.execute(f"SELECT count(DISTINCT {value}) FROM customers").fetchone()
        n_distinct = int(distinct[0]) if distinct else 0
        if n_distinct < 2:
            continue
        if kind == "categorical" and n_distinct > max_categories and n_distinct > 0.5 * n:
            continue  # an identifier (names, emails): no segment in it
        found.append(AttributeColumn(name, kind, value))
    return found
