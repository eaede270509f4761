"""Exports: the issue-by-persona table and the persona profiles as CSV or Parquet files.

Read-only on the warehouse: DuckDB's COPY writes the files straight from the views.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from persona_mining.errors import ConfigError, PersonaMiningError
from persona_mining.report.queries import by_persona_sql

FORMATS = ("csv", "parquet")
#: A cell that opens with one of these is a formula to Excel, LibreOffice and Google Sheets
#: (`=HYPERLINK(...)`, `+cmd|...`, `@SUM(...)`), and a ticket's text or a label made of it can
#: open with anything.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_START_RE = r"^[=+@\t\r-]"
# file stem -> view; views and stems are ours, never user input.
EXPORTS = {
    "issue_by_persona": "v_issue_by_persona",
    "issue_group_by_persona": "v_issue_group_by_persona",
    "persona_profiles": "v_persona_profiles",
    "issue_impact": "v_issue_impact",
}


@dataclass(frozen=True)
class ExportResult:
    """What one export call wrote: (file, rows) pairs."""

    files: tuple[tuple[Path, int], ...]
    seconds: float


def export_tables(
    con: duckdb.DuckDBPyConnection, *, out_dir: Path, fmt: str = "csv"
) -> ExportResult:
    """Write `v_issue_by_persona`, `v_issue_group_by_persona` (the themes), `v_persona_profiles`
    and `v_issue_impact` as CSV or Parquet.

    Files are named after the table (`issue_by_persona.csv`, `persona_profiles.parquet`) and
    replaced if they exist. CSV has a header row; JSON columns are written as JSON text; a
    text that a spreadsheet would run as a formula is led by a quote (`spreadsheet_safe_sql`).
    Parquet keeps every value as stored.

    Raises:
        ConfigError: `fmt` is not csv or parquet.
        PersonaMiningError: the folder or a file cannot be written.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"export format {fmt!r}: use csv or parquet")
    started = time.perf_counter()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PersonaMiningError(
            f"export folder {out_dir}: cannot be created ({e.strerror}); choose another --out"
        ) from e
    options = "FORMAT csv, HEADER" if fmt == "csv" else "FORMAT parquet"
    files = []
    for stem, view in EXPORTS.items():
        path = out_dir / f"{stem}.{fmt}"
        query = f"SELECT * FROM {view}"
        if fmt == "csv":
            query = spreadsheet_safe_sql(con, query)
        try:
            # COPY cannot bind its target as a parameter: the path goes in as a quoted literal.
            con.execute(f"COPY ({query}) TO {sql_string(str(path))} ({options})")
        except duckdb.Error as e:
            raise PersonaMiningError(
                f"export {path}: cannot be written ({str(e).splitlines()[0]})"
            ) from e
        count = con.execute(f"SELECT count(*) FROM {view}").fetchone()
        files.append((path, count[0] if count else 0))
    return ExportResult(files=tuple(files), seconds=time.perf_counter() - started)


def write_issue_table_csv(
    con: duckdb.DuckDBPyConnection, *, out: Path, level: str = "issue"
) -> Path:
    """Write every cell of `persona-mining table --level LEVEL` (all its columns) to `out`.

    Args:
        con: the warehouse (read-only is enough).
        out: the CSV file (its folder is created).
        level: "issue" (each issue with its theme) or "theme".

    Raises:
        ConfigError: `level` is not "issue" or "theme".
        PersonaMiningError: the folder or the file cannot be written.
    """
    query = spreadsheet_safe_sql(con, by_persona_sql(level))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PersonaMiningError(
            f"csv folder {out.parent}: cannot be created ({e.strerror}); choose another --csv"
        ) from e
    try:
        con.execute(f"COPY ({query}) TO {sql_string(str(out))} (HEADER, DELIMITER ',')")
    except duckdb.Error as e:
        raise PersonaMiningError(f"csv {out}: cannot be written ({str(e).splitlines()[0]})") from e
    return out


def sql_string(value: str) -> str:
    """A SQL string literal: single quotes doubled, for where DuckDB cannot bind a parameter."""
    return "'" + value.replace("'", "''") + "'"


def spreadsheet_cell(value: object) -> object:
    """`value`, led by a quote where it is a text a spreadsheet would run as a formula.

    A CSV file of ticket text is opened in Excel by the people it is written for; a text that
    opens with `=`, `+`, `-`, `@`, a tab or a carriage return would run there (OWASP's CSV
    injection). The quote makes it text, shown as written. Numbers stay numbers.
    """
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def spreadsheet_safe_sql(con: duckdb.DuckDBPyConnection, query: str) -> str:
    """`query` with each text column's values passed through `spreadsheet_cell`, in SQL."""
    columns = con.execute(f"DESCRIBE {query}").fetchall()
    selected = []
    for name, kind, *_ in columns:
        quoted = '"' + str(name).replace('"', '""') + '"'
        if kind == "VARCHAR":
            selected.append(
                f"CASE WHEN regexp_matches({quoted}, '{_FORMULA_START_RE}') "
                f"THEN '''' || {quoted} ELSE {quoted} END AS {quoted}"
            )
        else:
            selected.append(quoted)
    return f"SELECT {', '.join(selected)} FROM ({query})"
