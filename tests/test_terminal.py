"""The terminal and file views for support leads: `persona`, `trends`, `report`, `export`."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from rich.console import Console
from typer.testing import CliRunner

from persona_mining.cli import app
from persona_mining.report.issue_series import IssueSeries, IssueTrends
from persona_mining.report.profile_records import find_profile
from persona_mining.report.terminal import sparkline, trends_data, trends_view

runner = CliRunner()


def invoke(demo_run: dict[str, Any], *args: str) -> Any:
    """Run a command against the shared demo warehouse (read-only commands only)."""
    result = runner.invoke(app, [*args, "--db", str(demo_run["config"].warehouse.path)])
    return result


def fits_80_columns(output: str) -> bool:
    return all(len(line) <= 80 for line in output.splitlines()) and "…" not in output


@pytest.mark.slow
def test_persona_prints_a_profile_that_fits_80_columns(demo_run: dict[str, Any]) -> None:
    result = invoke(demo_run, "persona", "serial returner")
    assert result.exit_code == 0, result.output
    assert fits_80_columns(result.output), result.output
    assert "NEGATIVE PERSONA" in result.output and "95% CI" in result.output
    assert "Common questions" in result.output


@pytest.mark.slow
def test_persona_as_json_and_markdown(demo_run: dict[str, Any]) -> None:
    data = json.loads(invoke(demo_run, "persona", "parent", "--format", "json").output)
    assert data["persona"] == "Busy working parent"
    challenge = data["challenges"][0]
    assert challenge["lift"] > 1 and challenge["ci_low"] > 1 and challenge["q_value"] < 0.05
    assert challenge["questions"]
    markdown = invoke(demo_run, "persona", "Busy working parent", "--format", "markdown").output
    assert markdown.startswith("## Busy working parent") and "| issue | tickets |" in markdown


@pytest.mark.slow
def test_an_unknown_or_ambiguous_persona_names_the_known_ones(demo_run: dict[str, Any]) -> None:
    unknown = invoke(demo_run, "persona", "astronaut")
    assert unknown.exit_code == 2 and "known personas: 'Budget-conscious" in unknown.output
    ambiguous = invoke(demo_run, "persona", "o")
    assert ambiguous.exit_code == 2 and "give more of the name" in ambiguous.output


@pytest.mark.slow
def test_trends_fit_80_columns_and_compare_complete_weeks(demo_run: dict[str, Any]) -> None:
    result = invoke(demo_run, "trends", "--top", "5")
    assert result.exit_code == 0, result.output
    assert fits_80_columns(result.output), result.output
    assert "latest complete week" in result.output
    data = json.loads(invoke(demo_run, "trends", "--top", "5", "--format", "json").output)
    assert len(data["issues"]) == 5 and data["latest_period"] not in data["partial_periods"]
    for issue in data["issues"]:
        assert sum(issue["counts"].values()) == issue["tickets"]
        assert issue["latest"] == issue["counts"][data["latest_period"]]
    csv = invoke(demo_run, "trends", "--period", "month", "--format", "csv").output
    assert csv.splitlines()[0] == (
        "issue,topic_id,tickets,month,latest,previous,change,"
        "change_low,change_high,p_value,q_value,significant"
    )


@pytest.mark.slow
def test_export_writes_csv_and_parquet_to_a_folder_with_a_quote(
    demo_run: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "it's exports"
    for fmt in ("csv", "parquet"):
        result = invoke(demo_run, "export", "--out", str(out), "--format", fmt)
        assert result.exit_code == 0, result.output
    con = duckdb.connect(str(demo_run["config"].warehouse.path), read_only=True)
    expected = {
        "issue_by_persona": con.execute("SELECT count(*) FROM v_issue_by_persona").fetchone(),
        "persona_profiles": con.execute("SELECT count(*) FROM v_persona_profiles").fetchone(),
    }
    con.close()
    reader = duckdb.connect()
    for stem, count in expected.items():
        for fmt in ("csv", "parquet"):
            path = out / f"{stem}.{fmt}"
            assert (
                reader.execute("SELECT count(*) FROM read_" + fmt + "(?)", [str(path)]).fetchone()
                == count
            )
    assert invoke(demo_run, "export", "--out", str(out), "--format", "xlsx").exit_code == 2


@pytest.mark.slow
def test_report_command_writes_the_html_file(demo_run: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = invoke(demo_run, "report", "--out", str(out), "--period", "month")
    assert result.exit_code == 0, result.output
    assert out.exists() and f"wrote {out}" in result.output


def test_the_change_is_measured_on_the_latest_complete_period() -> None:
    trends = IssueTrends(
        period="week",
        periods=(date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)),
        partial=(False, False, True),
        series=(IssueSeries(topic_id=1, issue="Refund", counts=(10, 15, 2), total=27),),
        data_from=None,
        data_to=None,
    )
    assert trends.latest == 1
    assert trends.change(trends.series[0]) == (15, 10, 0.5)


def _two_weeks(*series: tuple[str, int, int]) -> IssueTrends:
    return IssueTrends(
        period="week",
        periods=(date(2026, 3, 2), date(2026, 3, 9)),
        partial=(False, False),
        series=tuple(
            IssueSeries(topic_id=i, issue=name, counts=(before, latest), total=before + latest)
            for i, (name, before, latest) in enumerate(series)
        ),
        data_from=None,
        data_to=None,
    )


def test_a_change_the_counts_do_not_bear_out_is_shown_as_noise() -> None:
    trends = _two_weeks(("Refund", 1, 6), ("Login", 4, 9), ("Delivery", 20, 60))
    console = Console(width=80, record=True, markup=False)
    console.print(trends_view(trends))
    shown = console.export_text()
    lines = {line.split()[0]: line for line in shown.splitlines() if line.strip()}
    assert "≈ +500%" in lines["Refund"] and "▲" not in lines["Refund"]
    assert "≈ +125%" in lines["Login"]
    assert "▲ +200%" in lines["Delivery"]
    assert "within noise" in shown
    data = trends_data(trends)["issues"]
    assert [d["significant"] for d in data] == [False, False, True]
    assert data[0]["p_value"] == 0.125 and data[2]["change_low"] > 0


def test_sparkline_shows_the_shape() -> None:
    assert sparkline([1, 5, 9]) == "▁▅█"
    assert sparkline([3, 3]) == "▅▅"
    assert sparkline([0, 0, 0]) == "▁▁▁"
    assert sparkline([]) == ""


# At 80 and 120 columns: many segments, long names -------------------------------------------


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fifteen segments and forty issues with long names (tests/many_segments.py)."""
    from tests.many_segments import build

    return build(tmp_path_factory.mktemp("many") / "w.duckdb")


@pytest.fixture
def width(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """The CLI's console drawn at the width the test is parametrized with."""
    from persona_mining.cli import common

    monkeypatch.setattr(common.console, "_width", request.param)
    return int(request.param)


def run_cli(warehouse: Path, *args: str) -> str:
    result = runner.invoke(app, [*args, "--db", str(warehouse)])
    assert result.exit_code == 0, result.output
    return str(result.output)


def words_of(warehouse: Path) -> set[str]:
    """Every word of the names and labels the warehouse holds: what a table may show."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        texts = [r[0] for r in con.execute("SELECT name FROM segments").fetchall()]
        texts += [r[0] for r in con.execute("SELECT label FROM topics").fetchall()]
    finally:
        con.close()
    return {w for t in texts for w in t.split()}


#: Column names of the tables, and the profile's own words ("40 contacted support"): words of
#: their own.
HEADERS = {"persona", "issue", "theme", "tickets", "cust", "lift", "CI", "share", "issues"}
HEADERS |= {"support"}


def broken_words(output: str, words: set[str]) -> list[str]:
    """Pieces of a word split across lines: a token that is not a word, nor a word cut with an
    ellipsis, but the start or the end of one."""
    tokens = {t for t in re.split(r"[\s│]+", output) if re.search("[A-Za-z]{2}", t)}
    return sorted(
        t
        for t in tokens - words - HEADERS
        if not t.endswith("…") and any(w != t and (w.startswith(t) or w.endswith(t)) for w in words)
    )


def fits(output: str, columns: int) -> bool:
    return all(len(line.rstrip()) <= columns for line in output.splitlines())


@pytest.mark.parametrize("width", [80, 120], indirect=True)
def test_the_issue_table_never_breaks_a_word(many: Path, width: int) -> None:
    output = run_cli(many, "table", "--all", "--limit", "0")
    assert fits(output, width), output
    assert broken_words(output, words_of(many)) == []
    assert "rows shown" not in output  # --limit 0: every row, nothing left out
    # a persona name that fits its column is never cut
    assert "Budget-conscious" in output and "complainer" in output


@pytest.mark.parametrize("width", [80, 120], indirect=True)
def test_the_topics_table_shows_each_topics_theme_and_fits(many: Path, width: int) -> None:
    output = run_cli(many, "topics")
    assert fits(output, width), output
    header = next(line for line in output.splitlines() if "key" in line and "label" in line)
    assert "theme" in header, output
    con = duckdb.connect(str(many), read_only=True)
    try:
        themes = {
            label
            for (label,) in con.execute(
                "SELECT g.label FROM topic_groups g JOIN v_current_model USING (model_id)"
            ).fetchall()
        }
    finally:
        con.close()
    assert themes and any(theme.split()[0] in output for theme in themes), output


@pytest.mark.parametrize("width", [80, 120], indirect=True)
def test_a_discovered_segment_row_takes_at_most_three_lines(many: Path, width: int) -> None:
    output = run_cli(many, "table", "--limit", "0")
    body = output[output.index("─") :].split("\n", 1)[1]  # the rows, under the header's rule
    rows = [block for block in re.split(r"\n\s*\n", body) if block.strip()]
    assert rows and all(len(block.strip("\n").splitlines()) <= 3 for block in rows[:-1]), output


@pytest.mark.parametrize("width", [80], indirect=True)
def test_the_table_says_how_many_rows_it_leaves_out_and_how_to_see_them(
    many: Path, width: int
) -> None:
    output = run_cli(many, "table", "--all")
    assert "40 of 600 rows shown; --limit 0 shows them all" in output
    assert len(run_cli(many, "table", "--all", "--limit", "3").split("▲")) > 1


def test_csv_and_json_are_never_cut(many: Path) -> None:
    csv_lines = run_cli(many, "table", "--all", "--format", "csv").splitlines()
    assert len(csv_lines) == 1 + 600
    assert len(json.loads(run_cli(many, "table", "--all", "--format", "json"))) == 600
    assert len(json.loads(run_cli(many, "sql", "SELECT * FROM topics", "--format", "json"))) == 41
    # an explicit --limit is obeyed in every format
    assert len(run_cli(many, "table", "--all", "--format", "csv", "--limit", "7").splitlines()) == 8


@pytest.mark.parametrize("width", [80], indirect=True)
def test_over_and_under_indexed_cells_are_marked_apart(many: Path, width: int) -> None:
    output = run_cli(many, "table", "--limit", "0")
    lines = [line for line in output.splitlines() if "▲" in line or "▼" in line]
    over = [line for line in lines if "▲" in line and "▼" not in line]
    under = [line for line in lines if "▼" in line and "▲" not in line]
    assert len(over) >= 30 and len(under) == 3, output
    assert all(line.startswith("Budget-conscious") for line in under)
    assert "▲ significantly over-indexed" in output and "▼ under-indexed" in output


@pytest.mark.parametrize("width", [80, 120], indirect=True)
def test_sql_prints_a_box_like_the_duckdb_shell(many: Path, width: int) -> None:
    output = run_cli(many, "sql", "SELECT * FROM topics ORDER BY topic_id")
    lines = output.splitlines()
    assert fits(output, width), output
    assert lines[0].startswith("┌") and lines[3].startswith("├") and "┘" in output
    header = [cell.strip() for cell in lines[1].strip("│").split("│")]
    assert header[:3] == ["model_id", "topic_id", "label"]
    types = [cell.strip() for cell in lines[2].strip("│").split("│")]
    assert types[:3] == ["varchar", "integer", "varchar"]  # DuckDB's, under each name
    rows = [line for line in lines if line.startswith("│")][2:]
    assert len(rows) == 40  # the first 40 of 41
    assert "41 rows (40 shown)" in output and "--limit 0" in output
    assert "…" in output  # the long label is cut on one line, never folded
    cells = [cell.strip() for cell in rows[8].strip("│").split("│")]
    assert cells[2].startswith("Subscription re")
    whole = run_cli(many, "sql", "SELECT topic_id, label FROM topics", "--limit", "0")
    assert "41 rows · 2 columns" in whole and "shown" not in whole


@pytest.mark.parametrize("width", [80], indirect=True)
def test_sql_leaves_out_middle_columns_that_cannot_fit_and_says_so(many: Path, width: int) -> None:
    query = "SELECT " + ", ".join(f"'value number {i}' AS column_{i}" for i in range(12))
    output = run_cli(many, "sql", query)
    assert fits(output, 80), output
    assert "column_0" in output and "column_11" in output and "…" in output
    assert re.search(r"1 row · 12 columns \(\d+ shown\)", output), output


@pytest.mark.parametrize("width", [80, 120], indirect=True)
def test_the_negative_persona_header_says_so_once(many: Path, width: int) -> None:
    output = run_cli(many, "persona", "Serial returner")
    title = output.splitlines()[0]
    assert "NEGATIVE PERSONA" in title and "(negative)" not in title
    con = duckdb.connect(str(many), read_only=True)
    try:
        profile = find_profile(con, "Serial returner").to_dict()
    finally:
        con.close()
    words = words_of(many) | set(json.dumps(profile).replace('"', " ").split())
    assert fits(output, width) and broken_words(output, words) == []
    rule = run_cli(many, "persona", "Budget-conscious")
    assert "(rule)" in rule.splitlines()[0] and "NEGATIVE" not in rule


def test_fitted_widths_give_text_its_longest_word_then_save_lines() -> None:
    from persona_mining.report.layout import plan_widths, wrapped_lines

    # natural widths fit: unchanged
    assert plan_widths([10, 5], [4, 5], [False, True], 20) == [10, 5]
    # too wide: the number keeps its width, each text column gets at least its longest word,
    # and the rest goes where it saves lines
    rows = [["Busy working parent", "Next subscription delivery", "144"]]
    widths = plan_widths([19, 26, 3], [7, 12, 3], [False, False, True], 40, rows)
    assert sum(widths) <= 40 and widths[2] == 3 and widths[0] >= 7 and widths[1] >= 12
    assert max(wrapped_lines(rows[0][i], widths[i]) for i in (0, 1)) == 2
    # not even the longest words fit: the text gives up width, never below six cells
    assert plan_widths([30, 20, 5], [16, 12, 5], [False, False, True], 20) == [7, 7, 5]
    assert wrapped_lines("Budget-conscious college student", 16) == 2


FORMULAS = ['=HYPERLINK("http://x","open")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx"]


def test_csv_cells_a_spreadsheet_would_run_are_led_by_a_quote() -> None:
    from persona_mining.report.export import spreadsheet_safe_sql
    from persona_mining.report.queries import Rows
    from persona_mining.report.terminal import query_output, rows_output

    con = duckdb.connect()
    con.execute('CREATE TABLE t ("the text" VARCHAR, n DOUBLE)')
    con.executemany("INSERT INTO t VALUES (?, ?)", [(f, -1.5) for f in [*FORMULAS, "ok = fine"]])
    safe = con.execute(spreadsheet_safe_sql(con, "SELECT * FROM t")).fetchall()
    assert [text for text, _ in safe] == [*("'" + f for f in FORMULAS), "ok = fine"]
    assert {n for _, n in safe} == {-1.5}  # numbers stay numbers
    rows = Rows(["the text", "n"], [(f, -1.5) for f in FORMULAS])
    written = str(rows_output(rows, "csv", title=""))
    assert "'=HYPERLINK" in written and "'-2+3" in written and ",-1.5" in written
    # `sql --format csv` is an analyst's data, for tools: every value as stored.
    assert "\n=HYPERLINK" in str(query_output(rows, "csv")).replace('"', "")


def test_a_lift_nobody_else_shares_is_shown_as_only_them() -> None:
    from persona_mining.personas.profiles import _challenge_evidence
    from persona_mining.report.html import fmt_lift, fmt_times
    from persona_mining.report.queries import ISSUE_BY_PERSONA_COLUMNS, Rows
    from persona_mining.report.terminal import rows_output

    assert fmt_lift(3271.45, 0.0) == "only them" and fmt_times(3271.45, 0.0) == "only them"
    assert fmt_lift(3.214, 0.02) == "3.21" and fmt_times(3.214, 0.02) == "3.21×"
    values = {
        "persona": "Five",
        "issue": "Joke",
        "theme": "Fun",
        "tickets": 41,
        "customers": 5,
        "share": 0.5,
        "baseline_share": 0.0,
        "lift": 3271.45,
        "ci_low": 203.95,
        "ci_high": 52474.7,
        "p_value": 1e-4,
        "q_value": 1e-3,
        "significant": True,
    }
    row = tuple(values.get(c) for c in ISSUE_BY_PERSONA_COLUMNS)
    console = Console(width=80, record=True)
    console.print(rows_output(Rows(list(ISSUE_BY_PERSONA_COLUMNS), [row]), "table", title="t"))
    text = console.export_text()
    assert "only them" in text and "3271" not in text
    evidence = _challenge_evidence({**values, "label": "Joke"})
    assert evidence == "Joke (only them: 41 tickets, no one else's)"


def test_csv_writes_booleans_as_duckdbs_csv_writer_does() -> None:
    from persona_mining.report.queries import Rows
    from persona_mining.report.terminal import rows_output

    rows = Rows(["issue", "significant"], [("Refund", True), ("Login", False)])
    text = rows_output(rows, "csv", title="")
    assert text == "issue,significant\r\nRefund,true\r\nLogin,false\r\n"
