"""Customers read from the ticket file itself: one customer per id, no rejects for repeats."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from persona_mining.cli import app
from persona_mining.errors import ConfigError
from persona_mining.ingest.load import ingest_customers

runner = CliRunner()

# Kaggle-shaped: one row per ticket, the customer's e-mail and attributes on each; rows are
# not in time order.
TICKET_FILE = (
    "Ticket ID,Customer Email,Customer Age,Product Purchased,Date of Purchase,Ticket Description\n"
    "1,ann@example.com,30,Phone,2021-03-01,Screen broke\n"
    "2,bob@example.com,41,Laptop,2021-01-10,Will not boot\n"
    "3,ann@example.com,31,Tablet,2021-05-02,Battery drains\n"
    "4,ann@example.com,,Camera,2021-02-01,Lens stuck\n"
)
MAP = {"customer_id": "Customer Email", "updated_at": "Date of Purchase"}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def attributes(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[object, ...]]:
    rows = con.execute(
        "SELECT customer_id, customer_age, product_purchased FROM customers ORDER BY customer_id"
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_repeat_customers_take_each_attributes_latest_value_and_are_not_rejected(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    result = ingest_customers(con, path=write(tmp_path / "t.csv", TICKET_FILE), columns=MAP)
    assert (result.read, result.new, result.rejected) == (4, 2, 0)
    assert attributes(con) == {"ann@example.com": (31, "Tablet"), "bob@example.com": (41, "Laptop")}
    assert con.execute("SELECT count(*) FROM ingest_rejects").fetchone() == (0,)


def test_first_keeps_each_attributes_earliest_value(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    ingest_customers(
        con, path=write(tmp_path / "t.csv", TICKET_FILE), columns=MAP, duplicates="first"
    )
    # Ann's earliest ticket (February) has no age: the age comes from her next one (March).
    assert attributes(con)["ann@example.com"] == (30, "Camera")


def test_without_a_time_the_file_order_decides(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    ingest_customers(
        con, path=write(tmp_path / "t.csv", TICKET_FILE), columns={"customer_id": "Customer Email"}
    )
    assert attributes(con)["ann@example.com"] == (31, "Camera")


def test_reject_keeps_the_old_rule_for_conflicting_rows(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    result = ingest_customers(
        con, path=write(tmp_path / "t.csv", TICKET_FILE), columns=MAP, duplicates="reject"
    )
    assert result.new == 1 and result.rejected == 3
    with pytest.raises(ConfigError, match="use one of"):
        ingest_customers(con, path=tmp_path / "t.csv", duplicates="newest")


def test_the_same_ticket_file_ingested_twice_changes_nothing(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = write(tmp_path / "t.csv", TICKET_FILE)
    ingest_customers(con, path=path, columns=MAP)
    again = ingest_customers(con, path=path, columns=MAP)
    assert (again.new, again.updated, again.unchanged, again.rejected) == (0, 0, 4, 0)


def test_the_readme_recipe_links_every_ticket_to_a_customer(tmp_path: Path) -> None:
    tickets = write(tmp_path / "t.csv", TICKET_FILE)
    db = str(tmp_path / "w.duckdb")
    result = runner.invoke(
        app,
        [
            "ingest",
            "--tickets",
            str(tickets),
            "--customers",
            str(tickets),
            "--map",
            "ticket_id=Ticket ID",
            "--map",
            "customer_id=Customer Email",
            "--map",
            "created_at=Date of Purchase",
            "--map",
            "body=Ticket Description",
            "--customer-map",
            "customer_id=Customer Email",
            "--customer-map",
            "updated_at=Date of Purchase",
            "--db",
            db,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "customers: read 4, new 2, updated 0, unchanged 2, rejected 0" in result.output
    assert "match a customer" not in result.output
