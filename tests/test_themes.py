"""Themes where people look: `table --level theme`, the theme of each issue, theme challenges of
`persona`, `trends --level theme`, and the report's theme heatmap and theme filter.

A small hand-made warehouse whose every number is known: the "Free plan" persona raises four
small refund issues (4 customers each: too few to test) that add up to the theme "Refunds"
(16 customers: a finding at the theme level only), and over-indexes on "Login" on its own.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from rich.console import Console
from typer.testing import CliRunner

from persona_mining import warehouse as db
from persona_mining.cli import app
from persona_mining.config import LinkConfig, PersonaRule
from persona_mining.errors import ConfigError
from persona_mining.personas.link import link_issues
from persona_mining.personas.profiles import build_profiles
from persona_mining.personas.segments import build_segments
from persona_mining.report.html import write_report
from persona_mining.report.issue_series import issue_trends
from persona_mining.report.profile_records import find_profile
from persona_mining.report.queries import (
    ISSUE_BY_PERSONA_COLUMNS,
    THEME_BY_PERSONA_COLUMNS,
    by_persona_sql,
    theme_by_persona,
)
from persona_mining.report.terminal import persona_markdown, persona_view
from tests.synthetic import MODEL, Ticket, add_customers, add_model, add_tickets
from tests.test_report import Page, browser  # noqa: F401  (the browser fixture, shared)

runner = CliRunner()
REFUND_ISSUES = ("Refund status", "Refund fee", "Refund form", "Refund delay")
# A theme label with markup and a pipe: shown as text everywhere, never parsed.
REFUNDS = "Refunds <b>[bold]</b> | money"
START = datetime(2026, 1, 5, 9)  # a Monday


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The warehouse file: two personas, six issues in three themes, linked and profiled."""
    path = tmp_path_factory.mktemp("themes") / "w.duckdb"
    con = db.connect(path)
    try:
        customers = [{"customer_id": f"f{i}", "plan": "free"} for i in range(40)]
        customers += [{"customer_id": f"p{i}", "plan": "paid"} for i in range(160)]
        add_customers(con, customers, {"plan": "VARCHAR"})
        add_model(
            con,
            {
                **{t: (label, ["refund"]) for t, label in enumerate(REFUND_ISSUES)},
                4: ("Login", ["password"]),
                5: ("Shipping", ["parcel"]),
            },
        )
        con.execute(
            """UPDATE topics SET size = 10, group_id = CASE WHEN topic_id = -1 THEN -1
                WHEN topic_id < 4 THEN 0 WHEN topic_id = 4 THEN 1 ELSE 2 END"""
        )
        con.executemany(
            "INSERT INTO topic_groups (model_id, group_id, label, topics, size) VALUES (?, ?, ?, ?, ?)",
            [
                [MODEL, -1, "Unclustered", 1, 0],
                [MODEL, 0, REFUNDS, 4, 40],
                [MODEL, 1, "Account access", 1, 10],
                [MODEL, 2, "Delivery", 1, 10],
            ],
        )
        tickets = []
        for i in range(40):  # everyone asks about shipping once; free customers also ...
            tickets.append(Ticket(f"f{i}-s", f"f{i}", 5, START + timedelta(days=i % 28)))
            # ... four per refund issue (f0..f15), or about login (f16..f39)
            topic = i % 4 if i < 16 else 4
            tickets.append(Ticket(f"f{i}-x", f"f{i}", topic, START + timedelta(days=i % 21)))
        for i in range(160):
            tickets.append(Ticket(f"p{i}-s", f"p{i}", 5, START + timedelta(days=i % 28)))
            if i < 4:
                tickets.append(Ticket(f"p{i}-x", f"p{i}", i, START + timedelta(days=i)))
            elif i < 24:
                tickets.append(Ticket(f"p{i}-x", f"p{i}", 4, START + timedelta(days=i % 28)))
        add_tickets(con, tickets)
        build_segments(
            con,
            personas=[
                PersonaRule(name="Free plan", where="plan = 'free'"),
                PersonaRule(name="Paid plan", where="plan = 'paid'"),
            ],
        )
        link_issues(con, config=LinkConfig())
        build_profiles(con)
    finally:
        con.close()
    return path


@pytest.fixture
def reader(warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = db.connect(warehouse, read_only=True)
    yield con
    con.close()


def invoke(warehouse: Path, *args: str) -> str:
    result = runner.invoke(app, [*args, "--db", str(warehouse)])
    assert result.exit_code == 0, result.output
    return result.output


def render(renderable: object) -> str:
    console = Console(width=80, markup=False, highlight=False, record=True)
    console.print(renderable)
    return console.export_text()


def fits_80_columns(output: str) -> bool:
    return all(len(line) <= 80 for line in output.splitlines()) and "…" not in output


# Tables --------------------------------------------------------------------------------------


def test_the_theme_table_lists_the_theme_level_finding(warehouse: Path) -> None:
    output = invoke(warehouse, "table", "--level", "theme")
    assert "Theme by persona (significant cells)" in output
    assert fits_80_columns(output), output
    assert "<b>[bold]</b>" in output and "money" in output and "Free plan" in output
    rows = json.loads(invoke(warehouse, "table", "--level", "theme", "--format", "json"))
    assert list(rows[0]) == list(THEME_BY_PERSONA_COLUMNS)
    refunds = next(r for r in rows if r["theme"] == REFUNDS and r["persona"] == "Free plan")
    assert refunds["significant"] and refunds["lift"] > 1 and refunds["ci_low"] > 1
    assert refunds["tickets"] == 16 and refunds["customers"] == 16
    # None of its four issues is a finding alone (four tickets each): the table says so, where
    # the theme's name alone would suggest its largest issue.
    assert refunds["issues"] == 4 and refunds["issues_alone"] is None
    assert f"Free plan · {REFUNDS}: none of its 4 issues" in output, output


def test_the_issue_level_is_unchanged_in_the_terminal_and_names_the_theme_in_files(
    warehouse: Path,
) -> None:
    output = invoke(warehouse, "table", "--all")
    assert "Issue by persona" in output and fits_80_columns(output), output
    assert "Refunds" not in output  # three text columns do not fit 80 columns
    rows = list(csv.DictReader(io.StringIO(invoke(warehouse, "table", "--all", "--format", "csv"))))
    assert list(rows[0]) == list(ISSUE_BY_PERSONA_COLUMNS)
    themes = {r["issue"]: r["theme"] for r in rows}
    assert themes == {**dict.fromkeys(REFUND_ISSUES, REFUNDS), "Login": "Account access"} | {
        "Shipping": "Delivery"
    }
    markdown = invoke(warehouse, "table", "--format", "markdown")
    assert markdown.startswith("| persona | issue | theme |")
    assert "| Login | Account access |" in markdown


def test_the_csv_file_of_the_theme_table_holds_every_cell(warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "themes.csv"
    result = runner.invoke(
        app,
        ["table", "--level", "theme", "--csv", str(out), "--limit", "1", "--db", str(warehouse)],
    )
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(THEME_BY_PERSONA_COLUMNS)
    assert len(rows) == 2 * 3  # two personas x three themes; the unclustered group is no theme


def test_a_theme_row_pipe_is_escaped_in_markdown(warehouse: Path) -> None:
    markdown = invoke(warehouse, "table", "--level", "theme", "--format", "markdown")
    assert "Refunds &lt;b>[bold]&lt;/b> \\| money" in markdown


def test_the_significant_rows_come_first_at_both_levels(reader: duckdb.DuckDBPyConnection) -> None:
    for level in ("issue", "theme"):
        flags = [r[-1] for r in reader.execute(by_persona_sql(level)).fetchall()]
        assert flags == sorted(flags, reverse=True) and flags[0], level
    assert theme_by_persona(reader, limit=1).rows[0][1] in {REFUNDS, "Account access"}


def test_an_unknown_level_is_one_readable_error(warehouse: Path) -> None:
    result = runner.invoke(app, ["table", "--level", "topic", "--db", str(warehouse)])
    assert result.exit_code == 2 and "--level 'topic': use issue or theme" in result.output
    with pytest.raises(ConfigError):
        by_persona_sql("topic")


# Persona -------------------------------------------------------------------------------------


def test_a_theme_only_finding_is_shown_after_the_issue_challenges_with_a_note(
    reader: duckdb.DuckDBPyConnection,
) -> None:
    profile = find_profile(reader, "free")
    assert [c.label for c in profile.challenges] == ["Login"]  # no refund issue on its own
    refunds = next(t for t in profile.theme_challenges if t.label == REFUNDS)
    assert refunds.theme_only and refunds.issues and set(refunds.issues) == set(REFUND_ISSUES)
    assert refunds.ci_low is not None and refunds.ci_low > 1 and refunds.q_value < 0.05  # type: ignore[operator]
    access = next(t for t in profile.theme_challenges if t.label == "Account access")
    assert access.significant_issues == ("Login",) and not access.theme_only
    text = render(persona_view(profile))
    assert fits_80_columns(text), text
    assert text.index("Challenges (significantly") < text.index("Theme-level challenges")
    assert "<b>[bold]</b>" in text and "0/4" in text and "1/1" in text
    assert "theme level only" in text
    markdown = persona_markdown(profile)
    assert (
        "### Theme-level challenges" in markdown
        and "Refunds &lt;b>[bold]&lt;/b> \\| money" in markdown
    )


def test_persona_json_carries_the_theme_challenges(warehouse: Path) -> None:
    data = json.loads(invoke(warehouse, "persona", "Free plan", "--format", "json"))
    refunds = next(t for t in data["theme_challenges"] if t["label"] == REFUNDS)
    assert refunds["theme_only"] is True and refunds["significant_issues"] == []
    assert refunds["tickets"] == 16 and refunds["lift"] > 1


def test_a_persona_without_theme_findings_shows_no_theme_table(
    warehouse: Path, tmp_path: Path
) -> None:
    # The paid plan over-indexes on Delivery by ticket share (its few tickets are mostly
    # shipping), so the findings are taken away on a copy: no cell has enough customers.
    copy = tmp_path / "w.duckdb"
    copy.write_bytes(warehouse.read_bytes())
    con = db.connect(copy)
    try:
        link_issues(con, config=LinkConfig(min_customers=10_000))
        build_profiles(con)
    finally:
        con.close()
    output = invoke(copy, "persona", "paid")
    assert "Theme-level challenges" not in output and fits_80_columns(output)


# Trends --------------------------------------------------------------------------------------


def test_theme_trends_add_up_the_tickets_of_their_issues(
    reader: duckdb.DuckDBPyConnection, warehouse: Path
) -> None:
    issues = issue_trends(reader, top=10)
    themes = issue_trends(reader, top=10, level="theme")
    assert themes.level == "theme" and themes.periods == issues.periods
    refunds = next(s for s in themes.series if s.label == REFUNDS)
    parts = [s for s in issues.series if s.label in REFUND_ISSUES]
    assert refunds.counts == tuple(map(sum, zip(*(s.counts for s in parts), strict=True)))
    assert refunds.total == 20 and {s.label for s in themes.series} == {
        REFUNDS,
        "Account access",
        "Delivery",
    }
    output = invoke(warehouse, "trends", "--level", "theme")
    assert "Tickets per week of the top themes" in output and fits_80_columns(output), output
    csv_text = invoke(warehouse, "trends", "--level", "theme", "--format", "csv")
    assert csv_text.splitlines()[0] == (
        "theme,group_id,tickets,week,latest,previous,change,"
        "change_low,change_high,p_value,q_value,significant"
    )
    data = json.loads(invoke(warehouse, "trends", "--level", "theme", "--format", "json"))
    assert data["level"] == "theme" and "issues" not in data
    assert {t["theme"]: t["tickets"] for t in data["themes"]}[REFUNDS] == 20
    assert "| theme | group_id |" in invoke(
        warehouse, "trends", "--level", "theme", "--format", "markdown"
    )


def test_status_is_per_issue_only(warehouse: Path) -> None:
    result = runner.invoke(app, ["trends", "--status", "--level", "theme", "--db", str(warehouse)])
    assert result.exit_code == 2 and "--status is per issue" in result.output


# Report --------------------------------------------------------------------------------------


def test_the_report_has_a_theme_heatmap_that_drills_down_to_issues(
    reader: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    result = write_report(reader, out=tmp_path / "report.html")
    html = result.path.read_text(encoding="utf-8")
    assert result.themes == 3 and result.issues == 6
    table = html[
        html.index('id="theme-heatmap-table"') : html.index(
            "</table>", html.index('id="theme-heatmap-table"')
        )
    ]
    assert table.count('class="theme"') == 3
    assert table.count('data-theme-of="0"') == 4  # the four refund issues under their theme
    assert "Refunds &lt;b&gt;[bold]&lt;/b&gt; | money" in table and "<b>[bold]" not in table
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert len(data["themeCells"]) == 6 and "theme" in data["themeCells"][0]["title"]
    assert 'id="filter-theme"' in html and 'data-theme="0"' in html
    assert "theme level only" in html  # the Free plan card
    assert "://" not in html


# In a real browser: the level switch, the drill-down and the theme filter --------------------


@pytest.mark.slow
def test_themes_switch_expand_and_filter_in_a_browser(
    browser: object,  # noqa: F811
    reader: duckdb.DuckDBPyConnection,
    tmp_path: Path,
) -> None:
    result = write_report(reader, out=tmp_path / "report.html")
    opened = Page(browser, result.path)
    page = opened.page
    assert page.locator("#heatmap-table").is_visible()
    assert not page.locator("#theme-heatmap-table").is_visible()
    page.click('#level-switch button[data-level="theme"]')
    assert page.locator("#theme-heatmap-table").is_visible()
    assert not page.locator("#heatmap-table").is_visible()
    issues = page.locator('#theme-heatmap-table tr[data-theme-of="0"]')
    assert issues.count() == 4 and not issues.first.is_visible()
    page.click('#theme-heatmap-table button.expand[data-theme="0"]')
    assert all(issues.nth(i).is_visible() for i in range(4))
    page.locator("#theme-heatmap-table tr.theme td.sig.over").first.hover()
    assert "(theme)" in page.locator("#tooltip").inner_text()
    page.select_option("#filter-finding", "")
    page.select_option("#filter-theme", "0")
    rows = page.locator("#issue-table tbody tr:not([hidden])")
    assert rows.count() == 4 * 2  # four refund issues x two personas
    assert all("Refund" in text for text in rows.all_inner_texts())
    assert opened.errors == []
    page.close()


def test_the_documented_theme_query_finds_the_theme_level_finding(
    reader: duckdb.DuckDBPyConnection,
) -> None:
    doc = (Path(__file__).parent.parent / "docs" / "warehouse.md").read_text(encoding="utf-8")
    (query,) = [q for q in re.findall(r"```sql\n(.*?)```", doc, flags=re.S) if "AS theme" in q]
    found = {(r[0], r[1]): r[-1] for r in reader.execute(query).fetchall()}
    assert found[("Free plan", REFUNDS)] == []
    assert found[("Free plan", "Account access")] == ["Login"]
