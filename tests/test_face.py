"""What the CLI prints, below the CLI: the read functions, the terminal output, serve's server."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import pytest
from rich.console import Console
from rich.text import Text

from persona_mining import warehouse as db
from persona_mining.errors import OrchestrationError, PersonaMiningError
from persona_mining.report.messages import serve_line
from persona_mining.report.queries import (
    ISSUE_BY_PERSONA_COLUMNS,
    ISSUE_STATUS_COLUMNS,
    Rows,
    discovered_segments,
    issue_by_persona,
    issue_status,
    run_query,
)
from persona_mining.report.terminal import format_cell, rows_output
from tests.synthetic import add_segment

CELL = ("Student", "Refund", "Money back", 12, 9, 0.25, 0.1, 2.5, 1.5, 4.25, 0.0004, True)


def render(renderable: object) -> str:
    console = Console(width=80, markup=False, highlight=False, record=True)
    console.print(renderable)
    return console.export_text()


def test_the_read_functions_return_the_columns_people_see(con: duckdb.DuckDBPyConnection) -> None:
    assert issue_by_persona(con, significant_only=False).columns == list(ISSUE_BY_PERSONA_COLUMNS)
    assert issue_status(con, top=0).columns == list(ISSUE_STATUS_COLUMNS)
    assert discovered_segments(con) == Rows(
        ["segment", "name", "kind", "customers", "challenges"], []
    )


def test_discovered_segments_lists_only_discovered_ones_largest_first(
    con: duckdb.DuckDBPyConnection,
) -> None:
    add_segment(con, "rule-students", ["c1", "c2", "c3"], name="Students")
    add_segment(con, "discovered-1", ["c1"], kind="discovered", name="Small")
    add_segment(con, "discovered-2", ["c2", "c3"], kind="discovered", name="Large")
    assert discovered_segments(con).rows == [
        ("discovered-2", "Large", "discovered", 2, 0),
        ("discovered-1", "Small", "discovered", 1, 0),
    ]


def test_a_query_duckdb_rejects_is_one_readable_error(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(PersonaMiningError, match=r"^sql: Parser Error"):
        run_query(con, "SELEC 1")
    assert run_query(con, "SET threads = 1").rows == []
    assert run_query(con, "SELECT 1 AS one") == Rows(["one"], [(1,)])


@pytest.mark.parametrize(
    ("query", "refused"),
    [
        ("COPY (SELECT 1) TO '{out}/copied.csv'", "refused COPY: it writes a file"),
        ("SELECT 1; COPY tickets TO '{out}/copied.csv'", "refused COPY"),
        ("EXPORT DATABASE '{out}/exported'", "refused EXPORT: it writes files"),
        ("ATTACH '{out}/other.duckdb' AS other (READ_WRITE)", "refused ATTACH"),
        ("INSTALL httpfs", "refused INSTALL: it installs or loads an extension"),
        ("DELETE FROM tickets", "refused DELETE: it changes the warehouse"),
    ],
)
def test_sql_writes_nothing_even_where_a_read_only_warehouse_would(
    tmp_path: Path, query: str, refused: str
) -> None:
    warehouse = tmp_path / "w.duckdb"
    db.connect(warehouse).close()
    (tmp_path / "other.duckdb").touch()
    con = db.connect(warehouse, read_only=True)
    try:
        with pytest.raises(PersonaMiningError, match=rf"^sql: {refused}.*(export|only reads)"):
            run_query(con, query.format(out=tmp_path))
        assert run_query(con, "SELECT count(*) AS n FROM tickets").rows == [(0,)]
    finally:
        con.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.duckdb", "w.duckdb"]
    assert (tmp_path / "other.duckdb").stat().st_size == 0


def test_rows_as_csv_and_json_keep_the_values_as_they_are() -> None:
    rows = Rows(list(ISSUE_BY_PERSONA_COLUMNS), [CELL])
    text = rows_output(rows, "csv", title="")
    assert isinstance(text, str)
    assert list(csv.reader(io.StringIO(text)))[1][5:8] == ["0.25", "0.1", "2.5"]
    data = json.loads(str(rows_output(rows, "json", title="")))
    assert data == [dict(zip(ISSUE_BY_PERSONA_COLUMNS, CELL, strict=True))]


def test_rows_as_markdown_are_formatted_for_people_with_pipes_escaped() -> None:
    text = rows_output(Rows(["issue", "share", "q"], [("a|b", 0.25, 0.0004)]), "markdown", title="")
    assert text == "| issue | share | q |\n|---|---|---|\n| a\\|b | 25.0% | 4e-04 |\n"


def test_a_markdown_row_stays_one_row_and_carries_no_tag_or_link() -> None:
    body = 'Broken\n\nagain <img src=x onerror="alert(1)"> [here](javascript:alert(2)) q<0.05'
    text = rows_output(Rows(["ticket", "body"], [("T1", body)]), "markdown", title="")
    assert isinstance(text, str) and len(text.splitlines()) == 3
    assert text.splitlines()[2] == (
        '| T1 | Broken again &lt;img src=x onerror="alert(1)"> [here]\\(javascript:alert(2)) '
        "q<0.05 |"
    )


def test_the_issue_table_is_narrowed_to_80_columns_with_the_interval_in_one_cell() -> None:
    view = rows_output(Rows(list(ISSUE_BY_PERSONA_COLUMNS), [CELL]), "table", title="Issues")
    text = render(view)
    header = next(line for line in text.splitlines() if "persona" in line)
    assert header.split() == ["persona", "issue", "tickets", "cust", "lift", "95%", "CI", "q"]
    assert "▲2.50" in text
    assert "1.50-4.25" in text and "4e-04" in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_no_rows_says_so_under_the_title() -> None:
    empty = rows_output(Rows(["a"], []), "table", title="Topics")
    assert isinstance(empty, Text) and empty.plain == "Topics: no rows"


def test_cells_are_empty_for_missing_values_and_false() -> None:
    assert [format_cell("lift", v) for v in (None, False, True, 2.0, 3)] == [
        "",
        "",
        "yes",
        "2.00",
        "3",
    ]


def test_serve_names_each_deployment_its_schedule_and_the_ui_of_its_own_server() -> None:
    from flows.deployments import ServeEvent

    url = "http://127.0.0.1:4242/api"
    schedules = (("persona-pipeline/nightly", "0 2 * * *", "UTC"),)
    assert serve_line(ServeEvent("starting", url, own_server=True)).plain == (
        "starting a Prefect server on 127.0.0.1:4242 ..."
    )
    assert serve_line(ServeEvent("serving", url, True, schedules)).plain == (
        "serving persona-pipeline/nightly (0 2 * * * UTC) on http://127.0.0.1:4242/api "
        "(a server started here; its UI at http://127.0.0.1:4242); Ctrl-C stops"
    )
    assert "started here" not in serve_line(ServeEvent("serving", url, False, schedules)).plain


def test_a_prefect_api_url_where_no_server_answers_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from flows.server import choose_server, free_port

    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{free_port()}/api")
    with pytest.raises(OrchestrationError, match="no Prefect server answers there"):
        choose_server(home=tmp_path)
