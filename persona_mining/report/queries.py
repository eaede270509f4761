"""Read functions behind the CLI's tables: each query over the public views, as rows and columns.

The commands print these rows through `report.terminal`; keeping the queries here keeps the
SQL in one package, next to the other readers of the views, and lets the benches time the
very query a command runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from persona_mining.errors import PersonaMiningError

#: Columns of `persona-mining table`, in order: the terminal narrows exactly these to 80 columns.
ISSUE_BY_PERSONA_COLUMNS = (
    "persona",
    "issue",
    "tickets",
    "customers",
    "share",
    "baseline_share",
    "lift",
    "ci_low",
    "ci_high",
    "q_value",
    "significant",
)
#: The issue-by-persona query of `persona-mining table --all` (and of its --csv file).
ISSUE_BY_PERSONA_SQL = f"SELECT {', '.join(ISSUE_BY_PERSONA_COLUMNS)} FROM v_issue_by_persona"


@dataclass(frozen=True)
class Rows:
    """A query's result as people see it: column names and the rows, in order."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


def issue_by_persona(
    con: duckdb.DuckDBPyConnection, *, significant_only: bool = True, limit: int = 0
) -> Rows:
    """The issue-by-persona cells in the view's order (significant first).

    Args:
        con: the warehouse (read-only is enough).
        significant_only: keep only the significant cells.
        limit: the most rows to return; 0 returns all.
    """
    query = ISSUE_BY_PERSONA_SQL + (" WHERE significant" if significant_only else "")
    if limit > 0:
        query += f" LIMIT {int(limit)}"
    return _rows(con.execute(query))


def issue_status(con: duckdb.DuckDBPyConnection, *, top: int = 10) -> Rows:
    """Recurring and emerging issues: repeat contacts, recent vs earlier tickets, growth test.

    Args:
        con: the warehouse (read-only is enough).
        top: the most issues to return (at least one), in the order of `v_issue_status`.
    """
    cursor = con.execute(
        """SELECT issue, tickets, customers AS cust, round(repeat_rate, 2) AS repeat,
                  recent_tickets AS recent, previous_tickets AS before, round(growth, 2) AS growth,
                  q_value AS q,
                  CASE WHEN new_topic THEN 'new' WHEN emerging THEN 'rising' ELSE '' END AS flag
        FROM v_issue_status LIMIT ?""",
        [max(1, top)],
    )
    return _rows(cursor)


def discovered_segments(con: duckdb.DuckDBPyConnection) -> Rows:
    """The discovered segments, largest first: customers, and challenges (significant lift > 1)."""
    cursor = con.execute(
        """SELECT s.segment_id AS segment, s.name AS name, s.kind AS kind,
            count(DISTINCT cs.customer_id) AS customers,
            (SELECT count(*) FROM v_issue_by_persona i
             WHERE i.segment_id = s.segment_id AND i.significant AND i.lift > 1) AS challenges
        FROM segments s LEFT JOIN customer_segments cs USING (segment_id)
        WHERE starts_with(s.segment_id, 'discovered-')
        GROUP BY ALL ORDER BY count(DISTINCT cs.customer_id) DESC, s.segment_id"""
    )
    return _rows(cursor)


def run_query(con: duckdb.DuckDBPyConnection, query: str) -> Rows:
    """Run a person's SQL query as given (open the warehouse read-only to keep it read-only).

    A statement without a result (a SET, say) returns no columns and no rows.

    Raises:
        PersonaMiningError: DuckDB rejects the query; the message is DuckDB's first line.
    """
    try:
        cursor = con.execute(query)
        if not cursor.description:
            return Rows(columns=[], rows=[])
        return _rows(cursor)
    except duckdb.Error as e:
        raise PersonaMiningError(f"sql: {str(e).splitlines()[0]}") from e


def _rows(cursor: duckdb.DuckDBPyConnection) -> Rows:
    columns = [d[0] for d in cursor.description or ()]
    return Rows(columns=columns, rows=cursor.fetchall())
