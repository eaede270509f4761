"""The terminal and file views for support leads: `persona`, `trends`, `report`, `export`."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from rich.console import Console
from typer.testing import CliRunner

from persona_mining.cli import app
from persona_mining.report.issue_series import IssueSeries, IssueTrends
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
        "change_low,change_high,p_value,significant"
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
    assert sparkline([]) == ""
