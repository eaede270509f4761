"""Ingest types the extra columns and reads the timestamps as the export wrote them: no decimal
rounded, no leading zero dropped, no row lost to a column's first type, no day read as a month,
and a date that cannot be right is named in the ingest result."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from persona_mining.cli import app
from persona_mining.config import PersonaRule
from persona_mining.config.checks import persona_rule_problems
from persona_mining.errors import InputFileError
from persona_mining.ingest.load import IngestResult, ingest_customers, ingest_tickets
from persona_mining.personas.outcomes import outcome_columns
from persona_mining.warehouse import table_columns
from tests.conftest import write

TICKETS = "ticket_id,created_at,body"


def tickets_file(tmp_path: Path, name: str, header: str, *lines: str) -> Path:
    return write(tmp_path / name, "\n".join([header, *lines]) + "\n")


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return con.execute(sql).fetchall()


def created(con: duckdb.DuckDBPyConnection) -> dict[str, datetime]:
    return dict(con.execute("SELECT source_ticket_id, created_at FROM tickets").fetchall())


# 1. Decimals are never rounded.


def test_decimal_columns_keep_their_decimals(con, tmp_path: Path) -> None:
    path = tickets_file(
        tmp_path,
        "dec.csv",
        f"{TICKETS},resolution_hours,csat,ltv",
        "1,2024-03-05,my order never arrived,2.5,4.5,19.99",
        "2,2024-03-06,refund please,0.4,3,1200.75",
        "3,2024-03-07,app crash,10,5,0.49",
    )
    assert ingest_tickets(con, path=path).new == 3
    types = table_columns(con, "tickets")
    assert [types[c] for c in ("resolution_hours", "csat", "ltv")] == ["DOUBLE"] * 3
    assert rows(con, "SELECT resolution_hours, csat, ltv FROM tickets ORDER BY ticket_id") == [
        (2.5, 4.5, 19.99),
        (0.4, 3.0, 1200.75),
        (10.0, 5.0, 0.49),
    ]


def test_customer_decimals_are_kept(con, tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "customer_id,ltv,discount\nc1,19.99,0.15\nc2,1200.5,0.5\n")
    ingest_customers(con, path=path)
    assert rows(con, "SELECT customer_id, ltv, discount FROM customers ORDER BY 1") == [
        ("c1", 19.99, 0.15),
        ("c2", 1200.5, 0.5),
    ]


def test_whole_numbers_are_bigint_and_number_lookalikes_are_not(con, tmp_path: Path) -> None:
    path = tickets_file(
        tmp_path,
        "t.csv",
        f"{TICKETS},csat,sci,hex,grouped",
        "1,2024-03-05,a,5,1e3,0x10,1_000",
        "2,2024-03-06,b,-3,2e3,0x20,2_000",
    )
    ingest_tickets(con, path=path)
    types = table_columns(con, "tickets")
    assert [types[c] for c in ("csat", "sci", "hex", "grouped")] == [
        "BIGINT",
        "DOUBLE",
        "VARCHAR",
        "VARCHAR",
    ]
    assert rows(con, "SELECT csat, hex, grouped FROM tickets ORDER BY ticket_id") == [
        (5, "0x10", "1_000"),
        (-3, "0x20", "2_000"),
    ]


def test_a_decimal_in_a_whole_number_column_widens_it_to_double(con, tmp_path: Path) -> None:
    header = f"{TICKETS},resolution_hours"
    ingest_tickets(
        con, path=tickets_file(tmp_path, "a.csv", header, "1,2024-03-05,a,2", "2,2024-03-06,b,3")
    )
    assert table_columns(con, "tickets")["resolution_hours"] == "BIGINT"
    result = ingest_tickets(con, path=tickets_file(tmp_path, "b.csv", header, "3,2024-03-07,c,2.5"))
    assert (result.new, result.rejected) == (1, 0)
    assert table_columns(con, "tickets")["resolution_hours"] == "DOUBLE"
    assert rows(con, "SELECT resolution_hours FROM tickets ORDER BY created_at") == [
        (2.0,),
        (3.0,),
        (2.5,),
    ]
    assert (
        "column resolution_hours holds decimal numbers from now on: '2.5' (row 1 of b.csv) "
        "is not a whole number"
    ) in result.note


# 2. Leading zeros are kept.


def test_a_column_with_leading_zeros_stays_text(con, tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.csv",
        "customer_id,zip,case_number,share\n00042,01234,00001001,0.5\n00043,90210,00001002,0\n"
        "00044,00501,00001003,1\n",
    )
    ingest_customers(con, path=path)
    types = table_columns(con, "customers")
    assert (types["zip"], types["case_number"], types["share"]) == ("VARCHAR", "VARCHAR", "DOUBLE")
    assert rows(con, "SELECT customer_id, zip, case_number FROM customers ORDER BY 1") == [
        ("00042", "01234", "00001001"),
        ("00043", "90210", "00001002"),
        ("00044", "00501", "00001003"),
    ]


def test_a_phone_number_with_a_leading_zero_is_not_a_unix_time(con, tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "customer_id,phone\nc1,0612345678\nc2,0698765432\n")
    ingest_customers(con, path=path)
    assert table_columns(con, "customers")["phone"] == "VARCHAR"
    assert rows(con, "SELECT phone FROM customers ORDER BY 1") == [
        ("0612345678",),
        ("0698765432",),
    ]


def test_a_leading_zero_in_a_number_column_widens_it_to_text(con, tmp_path: Path) -> None:
    ingest_customers(con, path=write(tmp_path / "a.csv", "customer_id,zip\nc1,90210\n"))
    result = ingest_customers(con, path=write(tmp_path / "b.csv", "customer_id,zip\nc2,01234\n"))
    assert rows(con, "SELECT customer_id, zip FROM customers ORDER BY 1") == [
        ("c1", "90210"),
        ("c2", "01234"),
    ]
    assert "column zip is text from now on: '01234' (row 1 of b.csv) has a leading zero" in (
        result.note
    )


# 3. A column's first type never rejects a later row: the column is widened.


def test_a_customer_column_becomes_text_and_every_row_is_kept(con, tmp_path: Path) -> None:
    first = write(tmp_path / "cA.csv", "customer_id,age,plan\nc1,34,pro\nc2,40,free\n")
    ingest_customers(con, path=first)
    result = ingest_customers(
        con,
        path=write(
            tmp_path / "cB.csv", "customer_id,age,plan\nc2,unknown,pro\nc3,n/a,free\nc4,29,free\n"
        ),
    )
    assert (result.new, result.updated, result.rejected) == (2, 1, 0)
    assert table_columns(con, "customers")["age"] == "VARCHAR"
    assert rows(con, "SELECT customer_id, age, plan FROM customers ORDER BY 1") == [
        ("c1", "34", "pro"),
        ("c2", "unknown", "pro"),
        ("c3", "n/a", "free"),
        ("c4", "29", "free"),
    ]
    assert result.note.startswith(
        "column age is text from now on: 'unknown' (row 1 of cB.csv) and 1 other value are "
        "not a number"
    )
    assert "TRY_CAST(age AS DOUBLE)" in result.note
    # The first file again: c2's age back to 40, c1 unchanged (its 34 reads the same as text).
    again = ingest_customers(con, path=first)
    assert (again.new, again.updated, again.unchanged, again.note) == (0, 1, 1, "")
    # A rule that compares the column as a number is caught by the config check, with a hint.
    [problem] = persona_rule_problems(con, [PersonaRule(name="Older", where="age > 30")])
    assert "column age is text" in problem and "TRY_CAST(age AS DOUBLE)" in problem
    assert rows(
        con, "SELECT customer_id FROM customers WHERE TRY_CAST(age AS DOUBLE) > 30 ORDER BY 1"
    ) == [("c1",), ("c2",)]


def test_a_ticket_column_becomes_text_and_the_ticket_is_kept(con, tmp_path: Path) -> None:
    header = f"{TICKETS},priority"
    ingest_tickets(
        con,
        path=tickets_file(
            tmp_path, "tA.csv", header, "1,2024-03-05,my order,1", "2,2024-03-06,refund,2"
        ),
    )
    result = ingest_tickets(
        con,
        path=tickets_file(
            tmp_path, "tB.csv", header, "3,2024-03-07,app crashes,P1", "4,2024-03-08,reset,3"
        ),
    )
    assert (result.new, result.rejected) == (2, 0)
    assert rows(con, "SELECT source_ticket_id, priority FROM tickets ORDER BY created_at") == [
        ("1", "1"),
        ("2", "2"),
        ("3", "P1"),
        ("4", "3"),
    ]
    assert (
        "column priority is text from now on: 'P1' (row 1 of tB.csv) is not a number" in result.note
    )
    assert rows(con, "SELECT count(*) FROM ingest_rejects") == [(0,)]


def test_the_cli_prints_the_widened_column(tmp_path: Path) -> None:
    db = str(tmp_path / "w.duckdb")
    header = f"{TICKETS},priority"
    runner = CliRunner()
    for name, line in (("tA.csv", "1,2024-03-05,my order,1"), ("tB.csv", "2,2024-03-07,crash,P1")):
        path = tickets_file(tmp_path, name, header, line)
        result = runner.invoke(app, ["ingest", "--tickets", str(path), "--db", db])
        assert result.exit_code == 0, result.output
    assert "column priority is text from now on: 'P1'" in result.output


def test_a_folder_result_keeps_the_notes_of_each_file_once() -> None:
    first = IngestResult(kind="tickets", sources=("a",), note="column a is text\nsame")
    second = IngestResult(kind="tickets", sources=("b",), note="same\ncolumn b is text")
    assert (first + second).note == "column a is text\nsame\ncolumn b is text"
    assert (IngestResult(kind="tickets", sources=()) + second).note == second.note


# 4. The day order of day/month/year dates is decided for the whole column of a file.


def test_day_first_dates_are_read_day_first_for_the_whole_file(con, tmp_path: Path) -> None:
    lines = [f"{d},{d:02d}/03/2024 09:15,ticket of march {d}" for d in range(1, 32)]
    result = ingest_tickets(con, path=tickets_file(tmp_path, "eu.csv", TICKETS, *lines))
    assert (result.new, result.rejected, result.note) == (31, 0, "")
    assert created(con) == {str(d): datetime(2024, 3, d, 9, 15) for d in range(1, 32)}


def test_one_month_first_date_decides_for_the_ambiguous_ones(con, tmp_path: Path) -> None:
    path = tickets_file(
        tmp_path, "us.csv", TICKETS, "1,03/05/2024,a", "2,03/13/2024,b", "3,3-5-2024,c"
    )
    ingest_tickets(con, path=path)
    assert created(con) == {
        "1": datetime(2024, 3, 5),
        "2": datetime(2024, 3, 13),
        "3": datetime(2024, 3, 5),
    }


def test_a_file_with_both_orders_stops_naming_two_rows(con, tmp_path: Path) -> None:
    path = tickets_file(
        tmp_path, "mixed.csv", TICKETS, "1,01/03/2024,a", "2,13/03/2024,b", "3,03/14/2024,c"
    )
    with pytest.raises(InputFileError) as error:
        ingest_tickets(con, path=path)
    message = str(error.value)
    assert "mixed.csv" in message and "column created_at mixes day-first and month-first" in message
    assert "'13/03/2024' (row 2)" in message and "'03/14/2024' (row 3)" in message
    assert "ISO 8601" in message
    assert rows(con, "SELECT count(*) FROM tickets") == [(0,)]


@pytest.mark.parametrize(
    ("value", "expected", "read_as"),
    [
        ("01/03/2024", datetime(2024, 1, 3), "read as month/day (MM/DD/YYYY)"),
        ("01.03.2024", datetime(2024, 3, 1), "read as day/month (DD.MM.YYYY)"),
        ("01-03-2024", datetime(2024, 3, 1), "read as day/month (DD.MM.YYYY)"),
    ],
)
def test_an_assumed_day_order_is_said(
    con, tmp_path: Path, value: str, expected: datetime, read_as: str
) -> None:
    path = tickets_file(tmp_path, "t.csv", TICKETS, f"1,{value},a", "2,05/05/2024,b")
    result = ingest_tickets(con, path=path)
    assert created(con)["1"] == expected
    assert result.note == (
        f"column created_at: 1 date such as '{value}' (row 1 of t.csv) could be day/month or "
        f"month/day, and no date of the file has a day above 12: {read_as}; if that is wrong, "
        "export the column as ISO 8601 (YYYY-MM-DD)"
    )


# 5. Common timestamp formats, offsets in UTC.


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-05 14:22:11 +0100", datetime(2024, 3, 5, 13, 22, 11)),  # Zendesk CSV
        ("2024-03-05 14:22:11 -05:00", datetime(2024, 3, 5, 19, 22, 11)),
        ("05.03.2024 14:22:11", datetime(2024, 3, 5, 14, 22, 11)),
        ("05.03.2024 14:22", datetime(2024, 3, 5, 14, 22)),
        ("3/5/2024 2:22 PM", datetime(2024, 3, 5, 14, 22)),
        ("3/5/2024 12:05 AM", datetime(2024, 3, 5, 0, 5)),
        ("2024-03-05 02:22:11 PM", datetime(2024, 3, 5, 14, 22, 11)),
        ("2024/03/05 14:22", datetime(2024, 3, 5, 14, 22)),
        ("Tue Mar 05 14:22:11 +0100 2024", datetime(2024, 3, 5, 13, 22, 11)),
        ("1709648531", datetime(2024, 3, 5, 14, 22, 11)),
    ],
)
def test_common_timestamp_formats_are_read(
    con, tmp_path: Path, value: str, expected: datetime
) -> None:
    result = ingest_tickets(con, path=tickets_file(tmp_path, "t.csv", TICKETS, f'1,"{value}",a'))
    assert (result.new, result.rejected) == (1, 0)
    assert created(con) == {"1": expected}


def test_an_offset_never_carries_over_to_the_next_row(con, tmp_path: Path) -> None:
    path = tickets_file(
        tmp_path,
        "zendesk.csv",
        TICKETS,
        "1,2024-03-05 14:22:11 +0100,a",
        "2,05.03.2024 14:22:11,b",
        "3,2024-03-05 02:22:11 PM,c",
        "4,Tue Mar 05 14:22:11 +0200 2024,d",
        "5,05.03.2024,e",
    )
    ingest_tickets(con, path=path)
    assert created(con) == {
        "1": datetime(2024, 3, 5, 13, 22, 11),
        "2": datetime(2024, 3, 5, 14, 22, 11),
        "3": datetime(2024, 3, 5, 14, 22, 11),
        "4": datetime(2024, 3, 5, 12, 22, 11),
        "5": datetime(2024, 3, 5),
    }


# 6. Tickets dated in the future or at the Unix epoch are kept, and named.


def test_future_and_epoch_dates_are_kept_with_a_warning(con, tmp_path: Path) -> None:
    path = tickets_file(
        tmp_path,
        "t.csv",
        TICKETS,
        "1,2024-03-05,a",
        "2,2099-01-01,b",
        "3,1970-01-01 00:00:00,c",
        "4,2099-06-01,d",
    )
    result = ingest_tickets(con, path=path)
    assert (result.new, result.rejected) == (4, 0)
    assert result.note.splitlines() == [
        "warning: 2 tickets are dated after now (e.g. 2099-01-01, row 2 of t.csv): kept, but "
        "left out of the windows of trends and alerts; check the created_at column's format",
        "warning: 1 ticket is dated at the Unix epoch or before (1970-01-01, row 3 of t.csv): "
        "kept, but left out of the windows of trends and alerts; a missing date written as 0 "
        "reads as 1970-01-01: check the created_at column",
    ]
    assert (
        ingest_tickets(con, path=tickets_file(tmp_path, "u.csv", TICKETS, "9,2024-03-06,x")).note
        == ""
    )


# 7. A new column of timestamps is TIMESTAMP: resolution hours from CSV.


def test_a_new_timestamp_column_is_typed_and_gives_resolution_hours(con, tmp_path: Path) -> None:
    path = tickets_file(
        tmp_path,
        "kaggle.csv",
        f"{TICKETS},Resolved time,First Response Time,code",
        "1,2021-03-22 10:00:00,a,2021-03-22 18:05:38,2021-03-22 11:00:00,1-2-3",
        "2,2021-03-23 09:00:00,b,,2021-03-23 09:30:00,4-5-6",
        "3,22-03-2021 09:00,c,23-03-2021 09:00,,7-8-9",
    )
    result = ingest_tickets(con, path=path)
    assert (result.new, result.rejected) == (3, 0)
    types = table_columns(con, "tickets")
    assert (types["resolved_time"], types["first_response_time"], types["code"]) == (
        "TIMESTAMP",
        "TIMESTAMP",
        "VARCHAR",
    )
    assert rows(con, "SELECT resolved_time FROM tickets ORDER BY ticket_id") == [
        (datetime(2021, 3, 22, 18, 5, 38),),
        (None,),
        (datetime(2021, 3, 23, 9, 0),),
    ]
    [resolution] = [o for o in outcome_columns(con) if o.kind == "resolution_time"]
    assert (resolution.column, resolution.unit) == ("resolved_time", "hours")
    hours = rows(con, f"SELECT {resolution.value_sql} FROM tickets t ORDER BY ticket_id")
    assert [round(h, 2) if h is not None else None for (h,) in hours] == [8.09, None, 24.0]


def test_a_stored_text_column_of_dates_stays_text(con, tmp_path: Path) -> None:
    con.execute("ALTER TABLE tickets ADD COLUMN resolved_at VARCHAR")
    path = tickets_file(tmp_path, "t.csv", f"{TICKETS},resolved_at", "1,2024-03-05,a,2024-03-06")
    ingest_tickets(con, path=path)
    assert table_columns(con, "tickets")["resolved_at"] == "VARCHAR"
    assert rows(con, "SELECT resolved_at FROM tickets") == [("2024-03-06",)]


def test_a_later_value_that_is_no_date_makes_a_timestamp_column_text(con, tmp_path: Path) -> None:
    header = f"{TICKETS},resolved_at"
    ingest_tickets(con, path=tickets_file(tmp_path, "a.csv", header, "1,2024-03-05,a,2024-03-06"))
    assert table_columns(con, "tickets")["resolved_at"] == "TIMESTAMP"
    result = ingest_tickets(
        con, path=tickets_file(tmp_path, "b.csv", header, "2,2024-03-07,b,not yet")
    )
    assert (result.new, result.rejected) == (1, 0)
    assert "column resolved_at is text from now on: 'not yet' (row 1 of b.csv) is not a date" in (
        result.note
    )
    assert rows(con, "SELECT resolved_at FROM tickets ORDER BY created_at") == [
        ("2024-03-06 00:00:00",),
        ("not yet",),
    ]


def test_a_new_column_of_dates_in_both_orders_is_text_and_said(con, tmp_path: Path) -> None:
    path = tickets_file(
        tmp_path,
        "t.csv",
        f"{TICKETS},closed",
        "1,2024-03-05,a,13/03/2024",
        "2,2024-03-06,b,03/14/2024",
    )
    result = ingest_tickets(con, path=path)
    assert (result.new, result.rejected) == (2, 0)
    assert table_columns(con, "tickets")["closed"] == "VARCHAR"
    assert result.note == (
        "column closed mixes day-first and month-first dates: '13/03/2024' (row 1) can only be "
        "day/month/year, '03/14/2024' (row 2) only month/day/year (in t.csv): it is stored as text"
    )


def test_a_daily_export_reads_its_dates_as_the_source_s_earlier_files_showed(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    header = "ticket_id,created_at,body"
    first = tickets_file(tmp_path, "export-2024-04.csv", header, "1,13/03/2024,a", "2,05/04/2024,b")
    ingest_tickets(con, path=first)
    # Every date of the next export could be either: it is read day-first, as the first was.
    later = tickets_file(tmp_path, "export-2024-05.csv", header, "2,05/04/2024,b", "3,07/04/2024,c")
    result = ingest_tickets(con, path=later)
    assert (result.new, result.unchanged) == (1, 1)
    assert "read day-first, as earlier files of source export showed" in result.note
    dates = con.execute("SELECT ticket_id, created_at FROM tickets ORDER BY 1").fetchall()
    assert [d.strftime("%m-%d") for _, d in dates] == ["03-13", "04-05", "04-07"]


def test_a_file_that_shows_another_order_than_the_one_assumed_says_so(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    header = "ticket_id,created_at,body"
    ingest_tickets(con, path=tickets_file(tmp_path, "t.csv", header, "1,01/04/2024,a"))
    grown = tickets_file(tmp_path, "t.csv", header, "1,01/04/2024,a", "2,13/04/2024,b")
    note = ingest_tickets(con, path=grown).note
    assert "is day-first, but earlier files of source t were assumed month-first" in note


def test_a_two_digit_year_is_no_date_and_tickets_of_a_tie_stay_in_their_source(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    header = "ticket_id,created_at,body"
    two = ingest_tickets(con, path=tickets_file(tmp_path, "y.csv", header, "1,5/3/24,a"))
    assert (two.new, two.rejected) == (0, 1)  # DuckDB's cast made it the year 5
    ingest_tickets(
        con,
        path=tickets_file(tmp_path, "m-2024-03.csv", header, "1,2024-03-01,a", "2,2024-03-02,b"),
    )
    # One shared id re-dated, one the same: the same help desk's next export.
    tie = tickets_file(tmp_path, "m-2024-04.csv", header, "1,2024-03-01 01:00,a", "2,2024-03-02,b")
    assert ingest_tickets(con, path=tie).source == "m"
