"""Ingest: every input row lands in tickets/customers or in ingest_rejects, and upserts are exact."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from persona_mining.errors import InputFileError
from persona_mining.ingest.load import ingest_customers, ingest_tickets
from tests.conftest import write

HEADER = "ticket_id,customer_id,created_at,subject,body,csat\n"


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return con.execute(sql).fetchall()


def test_csv_tickets_are_loaded_with_extra_columns_typed(con, tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.csv",
        HEADER
        + "1,c1,2026-01-01T10:00:00+02:00,Late,Where is it?,5\n2,,2026-01-02,,Refund please,4\n",
    )
    result = ingest_tickets(con, path=path)
    assert (result.read, result.new, result.rejected) == (2, 2, 0)
    assert rows(
        con, "SELECT ticket_id, customer_id, created_at::VARCHAR, csat FROM tickets ORDER BY 1"
    ) == [
        ("1", "c1", "2026-01-01 08:00:00", 5),
        ("2", None, "2026-01-02 00:00:00", 4),
    ]


def test_the_same_file_twice_changes_nothing(con, tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", HEADER + "1,c1,2026-01-01,a,b,5\n2,c1,bad date,a,b,5\n")
    ingest_tickets(con, path=path)
    before = rows(con, "SELECT * EXCLUDE (ingested_at) FROM tickets")
    again = ingest_tickets(con, path=path)
    assert (again.new, again.updated, again.unchanged, again.rejected) == (0, 0, 1, 1)
    assert rows(con, "SELECT * EXCLUDE (ingested_at) FROM tickets") == before
    assert rows(con, "SELECT count(*) FROM ingest_rejects") == [(1,)]


def test_a_newer_version_updates_and_an_older_one_does_not(con, tmp_path: Path) -> None:
    header = "ticket_id,created_at,updated_at,body\n"
    ingest_tickets(con, path=write(tmp_path / "a.csv", header + "1,2026-01-01,2026-01-02,first\n"))
    newer = ingest_tickets(
        con, path=write(tmp_path / "b.csv", header + "1,2026-01-01,2026-01-03,second\n")
    )
    older = ingest_tickets(
        con, path=write(tmp_path / "c.csv", header + "1,2026-01-01,2026-01-01,stale\n")
    )
    assert (newer.updated, older.updated, older.unchanged) == (1, 0, 1)
    assert rows(con, "SELECT body FROM tickets") == [("second",)]


def test_latest_version_in_one_batch_wins(con, tmp_path: Path) -> None:
    header = "ticket_id,created_at,updated_at,body\n"
    path = write(
        tmp_path / "a.csv",
        header
        + "1,2026-01-01,2026-01-05,late\n1,2026-01-01,2026-01-02,early\n1,2026-01-01,2026-01-05,late\n",
    )
    result = ingest_tickets(con, path=path)
    assert (result.new, result.rejected) == (1, 0)
    assert rows(con, "SELECT body FROM tickets") == [("late",)]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (",c1,2026-01-01,a,b,1", "missing ticket_id"),
        ("1,c1,,a,b,1", "missing created_at"),
        ("1,c1,yesterday,a,b,1", "unparseable created_at 'yesterday'"),
        ("1,c1,2026-01-01,,,1", "empty text"),
        ("1,c1,2026-01-01,a,b", "expected 6 fields, found 5"),
        ("1,c1,2026-01-01,a," + "x" * 300 + ",1", "text too long"),
    ],
)
def test_each_bad_row_is_rejected_with_an_actionable_reason(
    con, tmp_path: Path, line: str, reason: str
) -> None:
    path = write(tmp_path / "t.csv", HEADER + "9,c9,2026-01-01,ok,fine,3\n" + line + "\n")
    result = ingest_tickets(con, path=path, max_text_chars=200)
    assert (result.new, result.rejected) == (1, 1)
    [(row_number, raw, message)] = rows(con, "SELECT row_number, raw, reason FROM ingest_rejects")
    assert row_number == 2 and reason in message and raw


def test_conflicting_duplicates_are_all_rejected(con, tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.csv", HEADER + "1,c1,2026-01-01,a,b,1\n1,c1,2026-01-01,a,different,1\n"
    )
    result = ingest_tickets(con, path=path)
    assert (result.new, result.rejected) == (0, 2)
    assert all(
        "duplicate ticket_id 1" in r[0] for r in rows(con, "SELECT reason FROM ingest_rejects")
    )


def test_a_value_that_does_not_fit_an_existing_column_widens_it(con, tmp_path: Path) -> None:
    ingest_tickets(con, path=write(tmp_path / "a.csv", HEADER + "1,c1,2026-01-01,a,b,5\n"))
    result = ingest_tickets(
        con, path=write(tmp_path / "b.csv", HEADER + "2,c1,2026-01-01,a,b,great\n")
    )
    assert (result.new, result.rejected) == (1, 0)  # the ticket is kept, with its text
    assert "column csat is text from now on: 'great'" in result.note
    assert rows(con, "SELECT csat FROM tickets ORDER BY created_at, ticket_id") == [
        ("5",),
        ("great",),
    ]


def test_bad_encoding_rows_are_rejected_not_garbled(con, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(
        HEADER.encode() + b"1,c1,2026-01-01,ok,fine,1\n2,c1,2026-01-01,caf\xe9,latin-1 text,1\n"
    )
    result = ingest_tickets(con, path=path)
    assert (result.new, result.rejected) == (1, 1)
    assert "bad encoding" in rows(con, "SELECT reason FROM ingest_rejects")[0][0]


def test_jsonl_and_parquet_give_the_same_tickets_as_csv(tmp_path: Path) -> None:
    from persona_mining import warehouse as db

    records = [
        {
            "ticket_id": "1",
            "customer_id": "c1",
            "created_at": "2026-01-01T00:00:00",
            "subject": "a",
            "body": "b",
        },
        {
            "ticket_id": "2",
            "customer_id": "c2",
            "created_at": "2026-01-02T00:00:00",
            "subject": "c",
            "body": "d",
        },
    ]
    csv_path = write(
        tmp_path / "t.csv",
        "ticket_id,customer_id,created_at,subject,body\n"
        + "".join(
            f"{r['ticket_id']},{r['customer_id']},{r['created_at']},{r['subject']},{r['body']}\n"
            for r in records
        ),
    )
    jsonl_path = write(tmp_path / "t.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    parquet_path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pylist(records), parquet_path)
    loaded = []
    for path in (csv_path, jsonl_path, parquet_path):
        con = db.connect(":memory:")
        ingest_tickets(con, path=path)
        loaded.append(
            rows(
                con,
                "SELECT ticket_id, customer_id, created_at, subject, body FROM tickets ORDER BY 1",
            )
        )
        con.close()
    assert loaded[0] == loaded[1] == loaded[2] and len(loaded[0]) == 2


def test_broken_json_lines_are_rejected(con, tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.jsonl",
        '{"ticket_id": "1", "created_at": "2026-01-01", "body": "x"}\n{"ticket_id": \n[1, 2]\n',
    )
    result = ingest_tickets(con, path=path)
    assert (result.new, result.rejected) == (1, 2)


def test_a_column_mapping_reads_other_exports(con, tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.csv",
        "Ticket ID,Opened,Ticket Description,Customer Email\n7,2026-02-01,My TV is broken,x@example.com\n",
    )
    ingest_tickets(
        con,
        path=path,
        columns={"ticket_id": "Ticket ID", "created_at": "Opened", "body": "Ticket Description"},
    )
    assert rows(con, "SELECT ticket_id, body, customer_email FROM tickets") == [
        ("7", "My TV is broken", "x@example.com")
    ]


def test_a_missing_required_column_names_the_file_and_the_fix(con, tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "id,created_at,body\n1,2026-01-01,x\n")
    with pytest.raises(InputFileError, match=r"t\.csv: column 'ticket_id' missing; map it"):
        ingest_tickets(con, path=path)
    # A file of texts alone (an intent collection): the error names the generated columns.
    texts = write(tmp_path / "texts.csv", "text,label\nwhere is my refund,refund\n")
    with pytest.raises(InputFileError, match=r"--map ticket_id=@row"):
        ingest_tickets(con, path=texts, columns={"body": "text"})
    with pytest.raises(InputFileError, match=r"--map created_at=@file_time"):
        ingest_tickets(con, path=texts, columns={"body": "text", "ticket_id": "@row"})
    result = ingest_tickets(
        con, path=texts, columns={"body": "text", "ticket_id": "@row", "created_at": "@file_time"}
    )
    assert result.new == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "is empty"),
        ("binary.csv", b"\x00\x01\x02PK\x03\x04", "looks binary"),
        ("semicolon.csv", b"only_one_column\nvalue\n", "single column"),
        ("header.csv", b"ticket_id,created_at,body\n", "no data rows"),
        ("bad.parquet", b"not parquet at all", "not a readable Parquet"),
        ("notes.xlsx", b"whatever", "unsupported type"),
    ],
)
def test_files_that_are_not_what_they_claim_get_one_clear_error(
    con, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=message):
        ingest_tickets(con, path=path)
    assert rows(con, "SELECT count(*) FROM tickets") == [(0,)]


def test_ids_lose_every_unicode_whitespace_at_their_ends_and_nothing_else(
    con, tmp_path: Path
) -> None:
    ingest_customers(con, path=write(tmp_path / "c.csv", "customer_id,plan\n\u00a0c1\u3000,free\n"))
    path = write(
        tmp_path / "t.csv",
        HEADER
        + '"\t1\n",\u2028c1\u00a0,2026-01-01,a,b,1\n'
        + "\u20092\u200a\u202f,c1,2026-01-01,a,b,1\n"
        + "\u200b3\u205f,c1,2026-01-01,a,b,1\n",  # a zero-width space is not whitespace
    )
    assert ingest_tickets(con, path=path).new == 3
    assert rows(con, "SELECT ticket_id, customer_id FROM tickets ORDER BY 1") == [
        ("1", "c1"),
        ("2", "c1"),
        ("\u200b3", "c1"),
    ]
    assert rows(con, "SELECT customer_id FROM customers") == [("c1",)]


def test_customers_are_typed_so_that_rules_compare_numbers(con, tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.csv", "customer_id,age,plan,vip\nc1,9,free,true\nc2,40,premium,false\n"
    )
    result = ingest_customers(con, path=path)
    assert result.new == 2
    assert rows(con, "SELECT customer_id FROM customers WHERE age < 30 AND NOT vip") == []
    assert rows(con, "SELECT customer_id FROM customers WHERE age < 30") == [("c1",)]


def test_customer_upsert_counts_changes(con, tmp_path: Path) -> None:
    ingest_customers(con, path=write(tmp_path / "a.csv", "customer_id,plan\nc1,free\nc2,free\n"))
    result = ingest_customers(
        con, path=write(tmp_path / "b.csv", "customer_id,plan\nc1,premium\nc2,free\nc3,free\n")
    )
    assert (result.new, result.updated, result.unchanged) == (1, 1, 1)
    assert rows(con, "SELECT plan FROM customers WHERE customer_id = 'c1'") == [("premium",)]


def test_a_folder_of_files_is_read_file_by_file(con, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    write(folder / "a.csv", HEADER + "1,c1,2026-01-01,a,b,1\n")
    write(folder / "b.csv", HEADER + "2,c1,2026-01-02,a,b,1\n")
    result = ingest_tickets(con, path=folder)
    assert result.new == 2 and len(result.sources) == 2


def test_an_incremental_ingest_reads_new_and_edited_rows_whatever_their_date(
    con, tmp_path: Path
) -> None:
    # Without updated_at, a row is dated by its created_at: an edit keeps its old date, and a
    # ticket exported late can be older than the watermark; neither may be skipped.
    header = "ticket_id,created_at,subject,body\n"
    lines = [f"T{i:03d},2024-0{1 + i % 6}-{1 + i % 28:02d},s{i},body {i}\n" for i in range(30)]
    path = write(tmp_path / "t.csv", header + "".join(lines))
    ingest_tickets(con, path=path)
    lines[5] = lines[5].replace("body 5", "body 5 edited")
    lines += ["T300,2024-01-15,s300,added late\n", "T301,2024-07-01,s301,new\n"]
    write(path, header + "".join(lines))
    again = ingest_tickets(con, path=path)
    assert (again.new, again.updated, again.rejected) == (2, 1, 0)
    assert again.skipped == 32 - 3 - again.unchanged and again.skipped > 25
    stored = "SELECT * EXCLUDE (ingested_at) FROM tickets ORDER BY ticket_id"
    assert rows(con, "SELECT body FROM tickets WHERE ticket_id IN ('T005', 'T300')") == [
        ("body 5 edited",),
        ("added late",),
    ]
    # The same as reading every row, and the same file once more changes nothing.
    from persona_mining import warehouse as db

    full = db.connect(":memory:")
    ingest_tickets(full, path=path, full=True)
    assert rows(full, stored) == rows(con, stored)
    full.close()
    third = ingest_tickets(con, path=path)
    assert (third.new, third.updated, third.skipped, third.unchanged) == (0, 0, 31, 1)


def test_float_and_nan_ids_from_parquet_are_the_ids_they_stand_for(con, tmp_path: Path) -> None:
    # pandas writes an id column with a gap as float: 1.0, 2.0, NaN.
    csv_path = write(
        tmp_path / "helpdesk.csv",
        "ticket_id,customer_id,created_at,body\n1,7,2024-01-01,one\n2,,2024-01-02,two\n",
    )
    parquet_path = tmp_path / "helpdesk.parquet"
    nan, inf = float("nan"), float("inf")
    table = pa.table(
        {
            "ticket_id": [1.0, 2.0, nan, inf, 3.5],
            "customer_id": [7.0, nan, 9.0, 9.0, 1e16],
            "created_at": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"],
            "body": ["one", "two", "three", "four", "five"],
        }
    )
    pq.write_table(table, parquet_path)
    ingest_tickets(con, path=csv_path)
    result = ingest_tickets(con, path=parquet_path)
    assert (result.source, result.new, result.unchanged, result.updated) == ("helpdesk", 1, 2, 0)
    assert result.rejects_by_reason == {"missing ticket_id": 2}
    assert rows(con, "SELECT ticket_id, customer_id FROM tickets ORDER BY 1") == [
        ("1", "7"),
        ("2", None),
        ("3.5", "10000000000000000"),
    ]
    customers = tmp_path / "customers.parquet"
    pq.write_table(pa.table({"customer_id": [7.0, nan], "plan": ["a", "b"]}), customers)
    loaded = ingest_customers(con, path=customers)
    assert (loaded.new, loaded.rejects_by_reason) == (1, {"missing customer_id": 1})
    assert rows(con, "SELECT customer_id FROM customers") == [("7",)]


def test_text_of_only_whitespace_or_control_characters_is_empty(con, tmp_path: Path) -> None:
    blanks = ["\t", "\n", " \r\n ", "\u00a0", "\u3000\u2028", "\x0b\x0c", "\u200b\ufeff", "\x1f"]
    path = tmp_path / "t.csv"
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["ticket_id", "created_at", "subject", "body"])
        writer.writerow(["ok", "2026-01-01", "\t", "a body"])
        for number, blank in enumerate(blanks):
            writer.writerow([number, "2026-01-01", blank, blanks[-1 - number]])
    result = ingest_tickets(con, path=path)
    assert (result.new, result.rejects_by_reason) == (1, {"empty text": len(blanks)})
    assert rows(con, "SELECT ticket_id, subject, body FROM tickets") == [("ok", "\t", "a body")]


def test_unix_seconds_with_a_fraction_and_milliseconds_are_times(con, tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.csv",
        "ticket_id,created_at,body\n"
        "s,1704067200,x\nf,1704067200.5,x\nms,1704067200123,x\nzero,0,x\n",
    )
    result = ingest_tickets(con, path=path)
    assert result.new == 3 and sum(result.rejects_by_reason.values()) == 1
    assert rows(con, "SELECT ticket_id, created_at FROM tickets ORDER BY created_at") == [
        ("s", datetime(2024, 1, 1)),
        ("ms", datetime(2024, 1, 1, 0, 0, 0, 123000)),
        ("f", datetime(2024, 1, 1, 0, 0, 0, 500000)),
    ]


def test_a_broken_file_of_a_folder_stops_after_the_others_are_stored(con, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    write(folder / "a.csv", "ticket_id,created_at,body\n1,2024-01-01,first\n")
    write(folder / "b.csv", "")
    write(folder / "c.csv", "ticket_id,created_at,body\n3,2024-01-02,third\n")
    with pytest.raises(InputFileError) as stopped:
        ingest_tickets(con, path=folder)
    message = str(stopped.value)
    assert message.startswith(f"input folder {folder}: 2 of 3 files ingested (read 2, new 2")
    assert "b.csv" in message and "ingest the folder again" in message
    assert rows(con, "SELECT ticket_id FROM tickets ORDER BY 1") == [("1",), ("3",)]
    write(folder / "b.csv", "ticket_id,created_at,body\n2,2024-01-01,second\n")
    again = ingest_tickets(con, path=folder)
    assert (again.new, again.updated) == (1, 0)
    assert rows(con, "SELECT count(*) FROM tickets") == [(3,)]


def test_tickets_sharing_an_id_or_with_a_shortened_id_are_rejected_not_merged(
    con, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "t.csv",
        "ticket_id,created_at,body\n"
        "7,2024-03-05,my order never arrived\n7,2024-03-06,refund please\n"  # two tickets, one id
        "1.23457E+17,2024-03-05,the app crashes\n"  # an id Excel shortened
        "9,2024-03-07,where is my parcel\n9,2024-03-07,where is my parcel\n",  # one ticket twice
    )
    result = ingest_tickets(con, path=path)
    assert (result.new, result.rejected) == (1, 3)
    reasons = [r[0] for r in rows(con, "SELECT reason FROM ingest_rejects ORDER BY row_number")]
    assert reasons[0].startswith("duplicate ticket_id 7 with different created_at (2024-03-05")
    assert reasons[1] == reasons[0]
    assert reasons[2].startswith("ticket_id 1.23457E+17 is a long number a spreadsheet shortened")


def test_an_older_customers_export_does_not_overwrite_a_newer_one(con, tmp_path: Path) -> None:
    newer = write(tmp_path / "new.csv", "customer_id,updated_at,plan\nc1,2024-05-01,pro\n")
    older = write(tmp_path / "old.csv", "customer_id,updated_at,plan\nc1,2024-01-01,free\n")
    ingest_customers(con, path=newer)
    result = ingest_customers(con, path=older)
    assert (result.new, result.updated) == (0, 0)
    assert "dated before the version the warehouse holds" in result.note
    assert rows(con, "SELECT plan FROM customers") == [("pro",)]
    later = write(tmp_path / "later.csv", "customer_id,updated_at,plan\nc1,2024-06-01,team\n")
    assert ingest_customers(con, path=later).updated == 1
    assert rows(con, "SELECT plan FROM customers") == [("team",)]
