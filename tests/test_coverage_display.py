"""The report and the persona page show the share of tickets linked to a known customer, and say
why a persona has no findings when no ticket is linked."""

from __future__ import annotations

from pathlib import Path

import duckdb
from typer.testing import CliRunner

from persona_mining import warehouse as db
from persona_mining.cli import app
from persona_mining.ingest.load import ingest_customers, ingest_tickets
from persona_mining.report.html import write_report
from tests.conftest import write

runner = CliRunner()


def warehouse_without_links(path: Path, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """Tickets ingested without their customer id (the Kaggle mistake), customers, one persona
    profile as the personas stage leaves it then, and a topic model."""
    con = db.connect(path)
    ingest_customers(con, path=write(tmp_path / "c.csv", "customer_id,plan\nc1,free\nc2,pro\n"))
    ingest_tickets(
        con,
        path=write(
            tmp_path / "t.csv",
            "ticket_id,created_at,body\n1,2026-01-01,Where is my refund?\n2,2026-01-02,App crash\n",
        ),
    )
    con.execute(
        "INSERT INTO segments VALUES ('free', 'Free plan', 'rule', NULL, 'plan = ''free''')"
    )
    con.execute(
        """INSERT INTO persona_profiles (segment_id, model_id, customers, contacting_customers,
            tickets, tickets_per_customer, challenges, questions, summary, built_at)
        VALUES ('free', 'm1', 1, 0, 0, 0, '[]', '{}', '1 customer; none contacted support.', now())"""
    )
    con.execute(
        """INSERT INTO topic_models VALUES ('m1', now(), 'models/m1', 'all-MiniLM-L6-v2', 2, 0,
            '2026-01-01', '2026-01-02', '{}')"""
    )
    return con


def test_the_persona_page_says_no_ticket_is_linked(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    warehouse_without_links(path, tmp_path).close()
    result = runner.invoke(app, ["persona", "Free plan", "--db", str(path)])
    assert result.exit_code == 0, result.output
    page = " ".join(result.output.split())
    assert "No findings: none of the 2 tickets is linked to a known customer (0%)" in page
    assert "map customer_id for tickets" in page
    assert "No issue stands out" not in page
    markdown = runner.invoke(app, ["persona", "free", "--db", str(path), "--format", "markdown"])
    assert "No findings: none of the 2 tickets" in markdown.output


def test_the_report_shows_the_linked_share_and_why_a_persona_has_no_findings(
    tmp_path: Path,
) -> None:
    con = warehouse_without_links(tmp_path / "w.duckdb", tmp_path)
    try:
        out = write_report(con, out=tmp_path / "report.html")
    finally:
        con.close()
    html = out.path.read_text(encoding="utf-8")
    assert "<dt>Linked</dt><dd>0.0%<small>0 tickets of known customers" in html
    assert "No findings: none of the 2 tickets is linked to a known customer (0%)" in html


def test_a_persona_whose_customers_have_no_ticket_says_so(tmp_path: Path) -> None:
    con = warehouse_without_links(tmp_path / "w.duckdb", tmp_path)
    ingest_tickets(
        con,
        path=write(
            tmp_path / "t2.csv", "ticket_id,customer_id,created_at,body\n9,c2,2026-01-03,x\n"
        ),
    )
    con.close()
    result = runner.invoke(app, ["persona", "Free plan", "--db", str(tmp_path / "w.duckdb")])
    assert "No findings: none of this persona's customers has a ticket (33% of the" in " ".join(
        result.output.split()
    )
