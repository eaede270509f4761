"""Read functions behind the CLI's tables: each query over the public views, as rows and columns.

The commands print these rows through `report.terminal`; keeping the queries here keeps the
SQL in one package, next to the other readers of the views, and lets the benches time the
very query a command runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from persona_mining.errors import ConfigError, PersonaMiningError

#: The statistics of a persona's cell, in the order every table shows them.
STATISTIC_COLUMNS = (
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
#: Columns of `persona-mining table` (`--level issue`), in order: the terminal narrows exactly
#: these to 80 columns (the theme left out there: three text columns would not fit).
ISSUE_BY_PERSONA_COLUMNS = ("persona", "issue", "theme", *STATISTIC_COLUMNS)
#: Columns of `persona-mining table --level theme`, in order: how many of the theme's issues
#: were tested for the persona and which of them are findings on their own (a theme is named
#: after its largest issue, which need not be what the persona raises: "Damaged parcel"
#: over-indexed for students through its Warranty tickets), then the theme-level statistics.
THEME_BY_PERSONA_COLUMNS = ("persona", "theme", "issues", "issues_alone", *STATISTIC_COLUMNS)
#: Columns of `persona-mining trends --status` in CSV, JSON and Markdown: `v_issue_status`'s
#: own names (the terminal table shortens them to fit 80 columns).
ISSUE_STATUS_COLUMNS = (
    "issue",
    "topic_key",
    "tickets",
    "customers",
    "repeat_rate",
    "recent_tickets",
    "previous_tickets",
    "growth",
    "p_value",
    "q_value",
    "new_topic",
    "emerging",
)
#: The levels of `persona-mining table` and `trends`: issues, and the themes they form.
LEVELS = ("issue", "theme")
# The order of v_issue_by_persona (significant first, then over-indexed, then by q-value),
# restated because a join does not keep a view's order; names break the remaining ties.
_ORDER = "significant DESC, (lift > 1) DESC, q_value, lift DESC, persona, {label}"
_STATISTICS = ", ".join(STATISTIC_COLUMNS)
_ISSUE_SOURCE = f"""(SELECT v.persona, v.issue, g.label AS theme, v.{_STATISTICS.replace(", ", ", v.")}
    FROM v_issue_by_persona v
    LEFT JOIN topics tp ON tp.model_id = v.model_id AND tp.topic_id = v.topic_id
    LEFT JOIN topic_groups g
        ON g.model_id = tp.model_id AND g.group_id = tp.group_id AND g.group_id <> -1)"""
_THEME_SOURCE = f"""(SELECT t.persona, t.issue_group AS theme,
        count(i.topic_id) AS issues,
        string_agg(i.issue, ', ' ORDER BY i.q_value, i.issue) FILTER (WHERE i.significant)
            AS issues_alone,
        t.{_STATISTICS.replace(", ", ", t.")}
    FROM v_issue_group_by_persona t
    LEFT JOIN topics tp ON tp.model_id = t.model_id AND tp.group_id = t.group_id
    LEFT JOIN v_issue_by_persona i
        ON i.model_id = tp.model_id AND i.topic_id = tp.topic_id AND i.segment_id = t.segment_id
    GROUP BY ALL)"""


@dataclass(frozen=True)
class Rows:
    """A query's result as people see it: column names and the rows, in order.

    `types` holds DuckDB's type of each column where the rows come from a person's query
    (`run_query`); empty elsewhere.
    """

    columns: list[str]
    rows: list[tuple[Any, ...]]
    types: list[str] = field(default_factory=list, compare=False)


def by_persona_sql(level: str = "issue", *, significant_only: bool = False, limit: int = 0) -> str:
    """The query of `persona-mining table --level LEVEL` (and of its --csv file, with every row).

    Args:
        level: "issue" (the rows of `v_issue_by_persona`, with each issue's theme) or "theme"
            (the rows of `v_issue_group_by_persona`).
        significant_only: keep only the significant cells.
        limit: the most rows; 0 keeps all.

    Raises:
        ConfigError: `level` is not "issue" or "theme".
    """
    if level not in LEVELS:
        raise ConfigError(f"--level {level!r}: use issue or theme")
    columns = ISSUE_BY_PERSONA_COLUMNS if level == "issue" else THEME_BY_PERSONA_COLUMNS
    source = _ISSUE_SOURCE if level == "issue" else _THEME_SOURCE
    query = f"SELECT {', '.join(columns)} FROM {source} AS cells"
    if significant_only:
        query += " WHERE significant"
    query += " ORDER BY " + _ORDER.format(label=level)
    if limit > 0:
        query += f" LIMIT {int(limit)}"
    return query


#: The issue-by-persona query of `persona-mining table --all` (and of its --csv file).
ISSUE_BY_PERSONA_SQL = by_persona_sql("issue")


def issue_by_persona(
    con: duckdb.DuckDBPyConnection, *, significant_only: bool = True, limit: int = 0
) -> Rows:
    """The issue-by-persona cells in the view's order (significant first), each with its theme.

    Args:
        con: the warehouse (read-only is enough).
        significant_only: keep only the significant cells.
        limit: the most rows to return; 0 returns all.
    """
    return _rows(
        con.execute(by_persona_sql("issue", significant_only=significant_only, limit=limit))
    )


def theme_by_persona(
    con: duckdb.DuckDBPyConnection, *, significant_only: bool = True, limit: int = 0
) -> Rows:
    """The theme-by-persona cells (themes: the topic groups), significant first.

    A theme's statistics are those of its issues' tickets added up, tested like an issue: a
    persona can over-index on a theme whose issues are each too small to be findings.

    Args:
        con: the warehouse (read-only is enough).
        significant_only: keep only the significant cells.
        limit: the most rows to return; 0 returns all.
    """
    return _rows(
        con.execute(by_persona_sql("theme", significant_only=significant_only, limit=limit))
    )


#: Columns of `persona-mining table --sort impact`, in order (every column of the view is in
#: `v_issue_impact` and its export).
IMPACT_COLUMNS = (
    "persona",
    "issue",
    "impact_measure",
    "impact",
    "impact_low",
    "impact_high",
    "tickets",
    "share",
    "lift",
    "significant",
    "csat",
    "csat_others",
    "resolution_hours_median",
    "resolution_hours",
    "resolution_hours_others",
    "reopen_rate",
    "repeat_rate",
    "outcome_note",
)


def impact_sql(*, all_rows: bool = False, limit: int = 0) -> str:
    """The query of `persona-mining table --sort impact`: what to fix first, for whom.

    Rows with an impact come first, largest first; rows without one (no outcome data: the
    `outcome_note` says why) come after them, never mixed in as if they cost nothing.

    Args:
        all_rows: every persona x issue; otherwise those the persona over-indexes on
            significantly or whose impact interval lies above 0.
        limit: the most rows; 0 keeps all.
    """
    query = f"SELECT {', '.join(IMPACT_COLUMNS)} FROM v_issue_impact"
    if not all_rows:
        query += " WHERE significant OR costly"
    query += " ORDER BY impact IS NULL, impact DESC, tickets DESC, persona, issue"
    if limit > 0:
        query += f" LIMIT {int(limit)}"
    return query


def issue_impact(con: duckdb.DuckDBPyConnection, *, all_rows: bool = False, limit: int = 0) -> Rows:
    """What each issue costs each persona, costliest first (see `impact_sql`)."""
    return _rows(con.execute(impact_sql(all_rows=all_rows, limit=limit)))


def persona_impact(con: duckdb.DuckDBPyConnection, segment_id: str, *, top: int = 3) -> Rows:
    """A persona's costliest issues: those whose impact interval lies above 0, largest first."""
    return _rows(
        con.execute(
            f"""SELECT {", ".join(IMPACT_COLUMNS)} FROM v_issue_impact
            WHERE segment_id = ? AND costly ORDER BY impact DESC, issue LIMIT ?""",
            [segment_id, top],
        )
    )


def impact_coverage(con: duckdb.DuckDBPyConnection) -> tuple[str | None, int, int]:
    """The headline measure, rows with an impact and rows without one (of the whole view)."""
    row = con.execute(
        """SELECT any_value(impact_measure), count(impact), count(*) - count(impact)
        FROM v_issue_impact"""
    ).fetchone()
    return (row[0], int(row[1]), int(row[2])) if row else (None, 0, 0)


def issue_status(con: duckdb.DuckDBPyConnection, *, top: int = 10) -> Rows:
    """Recurring and emerging issues: repeat contacts, recent vs earlier tickets, growth test,
    as `ISSUE_STATUS_COLUMNS`.

    Args:
        con: the warehouse (read-only is enough).
        top: the most issues to return (at least one), in the order of `v_issue_status`.
    """
    cursor = con.execute(
        f"SELECT {', '.join(ISSUE_STATUS_COLUMNS)} FROM v_issue_status LIMIT ?", [max(1, top)]
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


#: Statements `run_query` refuses, and why: those that write files, fetch or load extensions or
#: attach other databases (a read-only warehouse does not stop them), and those that change
#: the warehouse (it would refuse them with a message about its mode).
_WRITES_FILES = {
    "COPY": "writes a file",
    "COPY_DATABASE": "writes a database",
    "EXPORT": "writes files",
    "ATTACH": "opens another database, which it could write",
    "DETACH": "detaches a database",
    "LOAD": "installs or loads an extension",
    "EXTENSION": "installs an extension",
}
_CHANGES = frozenset(
    {
        "INSERT", "UPDATE", "DELETE", "MERGE_INTO", "CREATE", "CREATE_FUNC", "ALTER", "DROP",
        "VACUUM", "PREPARE", "EXECUTE",
    }
)  # fmt: skip


def _refused(statement: Any) -> str | None:
    """Why `run_query` refuses one parsed statement; None when it may run."""
    kind = statement.type.name
    word = kind.replace("_", " ")
    if kind == "LOAD" and "INSTALL" in statement.query.upper().split()[:2]:
        word = "INSTALL"
    if kind in _WRITES_FILES:
        return (
            f"refused {word}: it {_WRITES_FILES[kind]}; `sql` only reads the warehouse: print "
            "rows with --format csv or json (and redirect them to a file), or write the public "
            "tables with `persona-mining export`"
        )
    if kind in _CHANGES:
        return (
            f"refused {word}: it changes the warehouse; `sql` only reads it (SELECT, SHOW, "
            "DESCRIBE, SUMMARIZE); `ingest`, `run` and `topics` change it"
        )
    return None


def run_query(con: duckdb.DuckDBPyConnection, query: str) -> Rows:
    """Run a person's SQL query as given, on a warehouse opened read-only.

    Statements that would write files or another database, install an extension or change the
    warehouse are refused before anything runs (`_refused`), and a table a query names from
    the web is never fetched by installing an extension. A statement without a result (a SET,
    say) returns no columns and no rows.

    Raises:
        PersonaMiningError: a refused statement, or DuckDB rejects the query; the message is
            DuckDB's first line, with a hint.
    """
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as e:
        raise PersonaMiningError(
            f"sql: {str(e).splitlines()[0]} (the query is DuckDB SQL; "
            "`SHOW TABLES` lists the tables, `DESCRIBE v_topics` a view's columns)"
        ) from e
    for statement in statements:
        refused = _refused(statement)
        if refused is not None:
            raise PersonaMiningError(f"sql: {refused}")
    try:
        con.execute("SET autoinstall_known_extensions = false")
        cursor = con.execute(query)
        if not cursor.description:
            return Rows(columns=[], rows=[])
        return _rows(cursor)
    except duckdb.Error as e:
        raise PersonaMiningError(f"sql: {str(e).splitlines()[0]}") from e


def _rows(cursor: duckdb.DuckDBPyConnection) -> Rows:
    description = cursor.description or ()
    return Rows(
        columns=[d[0] for d in description],
        rows=cursor.fetchall(),
        types=[str(d[1]) for d in description],
    )
