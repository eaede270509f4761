"""The demo's planted outcome effect is recovered by the impact stage (fast: true topics).

A small demo is ingested and each ticket's planted issue stands in for its topic, so that the
test needs neither the embedding model nor a topic fit; tests/test_pipeline.py checks the same
on the topics the pipeline finds.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from persona_mining.config import LinkConfig, load_config
from persona_mining.demo.generate import generate_demo
from persona_mining.demo.plan import ISSUES, planted_outcome_effects
from persona_mining.ingest.load import ingest_customers, ingest_tickets
from persona_mining.personas.impact import measure_issue_impact
from persona_mining.personas.segments import build_segments
from tests.synthetic import MODEL, add_model


@pytest.fixture(scope="module")
def demo_impact(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    from persona_mining import warehouse as db

    generated = generate_demo(tmp_path_factory.mktemp("demo"), seed=5, n_customers=800)
    con = db.connect(":memory:")
    ingest_customers(con, path=generated.customers_path)
    ingest_tickets(con, path=generated.tickets_path)
    issues = list(ISSUES)
    add_model(con, {i: (ISSUES[key], [key]) for i, key in enumerate(issues)})
    con.execute(
        """INSERT INTO ticket_topics (ticket_id, model_id, topic_id, probability, text_hash)
        SELECT ticket_id, ?, list_position(?, demo_issue) - 1, 1.0, 'h' FROM tickets""",
        [MODEL, issues],
    )
    build_segments(con, personas=load_config(Path(generated.config_path)).personas)
    measure_issue_impact(con, config=LinkConfig())
    return con


def test_the_demo_tickets_carry_csat_resolution_and_reopened(
    demo_impact: duckdb.DuckDBPyConnection,
) -> None:
    result = measure_issue_impact(demo_impact, config=LinkConfig())
    assert result.measures == ("csat", "resolution_hours", "reopen_rate")
    assert result.headline == "csat"


def test_the_planted_outcome_effect_is_the_persona_costliest_issue(
    demo_impact: duckdb.DuckDBPyConnection,
) -> None:
    ((persona, issue),) = planted_outcome_effects()
    rows = demo_impact.execute(
        """SELECT issue, impact, csat, csat_others, csat_diff_high, resolution_hours_diff_low,
            costly FROM v_issue_impact WHERE persona = ? ORDER BY impact DESC NULLS LAST""",
        [persona],
    ).fetchall()
    top = rows[0]
    assert top[0] == ISSUES[issue]
    assert top[6] is True  # its CSAT impact's interval lies above 0
    assert top[2] < 2.5 < 4 < top[3]  # rated about 2 by the persona, about 4.2 by everyone else
    assert top[4] < -1.5  # the whole interval of the CSAT difference is well below 0
    assert top[5] > 10  # and resolution takes at least 10 hours longer, interval and all


def test_no_other_persona_issue_costs_its_persona_clearly_more(
    demo_impact: duckdb.DuckDBPyConnection,
) -> None:
    ((persona, issue),) = planted_outcome_effects()
    others = demo_impact.execute(
        """SELECT persona, issue FROM v_issue_impact
        WHERE csat_diff_high < -0.5 AND NOT (persona = ? AND issue = ?)""",
        [persona, ISSUES[issue]],
    ).fetchall()
    assert others == []


def test_the_report_says_what_to_fix_first_with_the_planted_issue_on_top(
    demo_impact: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    from persona_mining.personas.profiles import build_profiles
    from persona_mining.report.html import write_report

    build_profiles(demo_impact)
    ((persona, issue),) = planted_outcome_effects()
    out = write_report(demo_impact, out=tmp_path / "report.html").path
    html = out.read_text(encoding="utf-8")
    section = html.split('<section id="fix-first">', 1)[1].split("</section>", 1)[0]
    first_row = section.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert persona in first_row and ISSUES[issue] in first_row
    assert "CSAT points a persona would gain" in section


def test_the_persona_and_table_commands_show_the_impact(
    demo_impact: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from persona_mining.cli import app
    from persona_mining.personas.profiles import build_profiles

    build_profiles(demo_impact)
    path = tmp_path / "w.duckdb"
    demo_impact.execute(f"ATTACH '{path}' AS copy")
    demo_impact.execute("COPY FROM DATABASE memory TO copy")
    demo_impact.execute("DETACH copy")
    ((persona, issue),) = planted_outcome_effects()
    runner = CliRunner()
    shown = runner.invoke(app, ["persona", persona, "--db", str(path)], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    impact_lines = [line for line in shown.output.splitlines() if line.startswith("impact:")]
    assert impact_lines and ISSUES[issue] in impact_lines[0] and "CSAT points" in impact_lines[0]
    table = runner.invoke(app, ["table", "--sort", "impact", "--format", "csv", "--db", str(path)])
    assert table.exit_code == 0, table.output
    header, first = table.output.splitlines()[:2]
    assert header.startswith("persona,issue,impact_measure,impact")
    assert first.startswith(f"{persona},{ISSUES[issue]},csat,")
