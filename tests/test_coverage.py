"""`ingest`, `run` and `status` say how many tickets match a known customer."""

from __future__ import annotations

from pathlib import Path

import duckdb
from typer.testing import CliRunner

from persona_mining.cli import app
from persona_mining.ingest.coverage import LanguageCoverage, language_coverage, link_coverage
from persona_mining.ingest.load import ingest_customers, ingest_tickets

runner = CliRunner()

TICKETS = (
    "ticket_id,customer_id,created_at,body\n"
    "1,c1,2026-01-01,Where is my refund?\n"
    "2,c2,2026-01-02,The app crashes.\n"
    "3,,2026-01-03,How do I reset my password?\n"
    "4,c9,2026-01-04,My parcel is late.\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_tickets_without_a_customer_id_warn_to_map_it(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    ingest_customers(con, path=write(tmp_path / "c.csv", "customer_id,plan\nc1,free\n"))
    ingest_tickets(
        con, path=write(tmp_path / "t.csv", "ticket_id,created_at,body\n1,2026-01-01,x\n")
    )
    coverage = link_coverage(con)
    assert (coverage.tickets, coverage.with_customer_id, coverage.linked) == (1, 0, 0)
    assert coverage.warning() == (
        "0 of 1 tickets match a customer: map customer_id for tickets (--map "
        "customer_id=COLUMN, or [ingest.columns] customer_id); personas see only tickets of "
        "known customers"
    )


def test_tickets_of_unknown_customers_warn_to_check_the_ids(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    ingest_tickets(con, path=write(tmp_path / "t.csv", TICKETS))
    assert "no customers are ingested" in (link_coverage(con).warning() or "")
    ingest_customers(con, path=write(tmp_path / "c.csv", "customer_id,plan\nx1,free\n"))
    warning = link_coverage(con).warning() or ""
    assert warning.startswith("0 of 4 tickets match a customer (3 name a customer")
    assert "same customer ids" in warning


def test_enough_linked_tickets_give_no_warning(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    ingest_tickets(con, path=write(tmp_path / "t.csv", TICKETS))
    ingest_customers(con, path=write(tmp_path / "c.csv", "customer_id,plan\nc1,free\nc2,pro\n"))
    coverage = link_coverage(con)
    assert (coverage.linked, coverage.share) == (2, 0.5)
    assert coverage.warning() is None


def test_ingest_and_status_show_the_tickets_linked_to_a_customer(tmp_path: Path) -> None:
    db = str(tmp_path / "w.duckdb")
    tickets = write(tmp_path / "t.csv", TICKETS)
    result = runner.invoke(app, ["ingest", "--tickets", str(tickets), "--db", db])
    assert result.exit_code == 0, result.output
    assert "warning: 0 of 4 tickets match a customer: no customers are ingested" in result.output
    customers = write(tmp_path / "c.csv", "customer_id,plan\nc1,free\n")
    result = runner.invoke(app, ["ingest", "--customers", str(customers), "--db", db])
    assert "1 of 4 tickets match a customer" in result.output
    result = runner.invoke(app, ["status", "--db", db])
    assert result.exit_code == 0, result.output
    assert "tickets linked to a known customer: 1 of 4 (25%)" in result.output


def test_a_few_tickets_in_other_languages_are_counted_without_a_warning(
    con: duckdb.DuckDBPyConnection,
) -> None:
    assert language_coverage(con) == LanguageCoverage(prepared=0, other=())
    few = LanguageCoverage(prepared=100, other=(("de", 3), ("fr", 1)))
    assert few.warning() is None  # 4%: under OTHER_LANGUAGES_SHARE
    assert few.summary().startswith(
        "96 of 100 prepared tickets in the languages analysed; 4 (4%) are in other languages (de 3, fr 1)"
    )
    many = LanguageCoverage(prepared=100, other=(("de", 5),))
    assert (many.warning() or "").startswith("5 of 100 prepared tickets are in other languages")
    assert (
        LanguageCoverage(prepared=10, other=()).summary()
        == "10 of 10 prepared tickets in the languages analysed"
    )


def test_ids_that_differ_only_in_case_or_leading_zeros_are_named(tmp_path: Path) -> None:
    db = str(tmp_path / "w.duckdb")
    customers = write(tmp_path / "c.csv", "customer_id,plan\njane@x.com,free\n00042,pro\nc1,pro\n")
    assert runner.invoke(app, ["ingest", "--customers", str(customers), "--db", db]).exit_code == 0
    tickets = write(
        tmp_path / "t.csv",
        "ticket_id,customer_id,created_at,body\n"
        + "".join(f"{n},c1,2026-01-01,Where is my refund?\n" for n in range(1, 9))
        + "9,Jane@X.com,2026-01-02,The app crashes.\n10,42,2026-01-03,My parcel is late.\n",
    )
    result = runner.invoke(app, ["ingest", "--tickets", str(tickets), "--db", db])
    assert result.exit_code == 0, result.output
    assert (
        "2 of 10 tickets name a customer id that matches a customer only when case and leading "
        "zeros are ignored ('42' for '00042')" in " ".join(result.output.split())
    )
    con = duckdb.connect(db, read_only=True)
    assert link_coverage(con).near == 2  # 8 of 10 linked: no warning without them
    con.close()
