"""Reject reasons name the real problem and keep the start of the raw row."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from persona_mining.ingest.load import ingest_tickets
from persona_mining.ingest.readers import MAX_RAW_CHARS, read_file


def test_a_very_long_body_is_rejected_as_too_long_with_its_start_kept(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # Longer than the csv module's default field limit (131,072 characters).
    body = "My order never arrived. " + "x" * 300_000
    path = tmp_path / "t.csv"
    path.write_text(
        f'ticket_id,created_at,body\n1,2026-01-01,Short one\n2,2026-01-02,"{body}"\n',
        encoding="utf-8",
    )
    limit_before = csv.field_size_limit()
    result = ingest_tickets(con, path=path)
    assert csv.field_size_limit() == limit_before
    assert (result.new, result.rejected) == (1, 1)
    raw, reason = con.execute("SELECT raw, reason FROM ingest_rejects").fetchall()[0]
    assert reason.startswith("text too long: 300,024 characters, over the limit of 50,000;")
    assert "[ingest] max_text_chars" in reason
    assert raw.startswith("2,2026-01-02,My order never arrived.") and len(raw) <= MAX_RAW_CHARS + 1
    assert result.rejects_by_reason == {"text too long": 1}


def test_a_raised_limit_keeps_the_long_ticket(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f"ticket_id,created_at,body\n1,2026-01-01,{'y' * 200_000}\n", encoding="utf-8")
    assert ingest_tickets(con, path=path, max_text_chars=300_000).new == 1


def test_a_long_field_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f"ticket_id,created_at,body\n1,2026-01-01,{'z' * 150_000}\n", encoding="utf-8")
    batch = read_file(path)
    assert batch.rejects == () and len(batch.table.column("body")[0].as_py()) == 150_000


def test_an_unclosed_quote_is_one_reject_and_the_rows_after_it_land(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        'ticket_id,created_at,subject,body\n1,2024-01-01,Refund,"I want my money back\n'
        "2,2024-01-02,Late,my order is late\n3,2024-01-03,Crash,the app crashes\n",
        encoding="utf-8",
    )
    result = ingest_tickets(con, path=path)
    assert (result.read, result.new, result.rejected) == (3, 2, 1)
    assert result.rejects_by_reason == {"unclosed quote": 1}
    assert con.execute("SELECT ticket_id, body FROM tickets ORDER BY 1").fetchall() == [
        ("2", "my order is late"),
        ("3", "the app crashes"),
    ]
    [(row, raw, reason)] = con.execute(
        "SELECT row_number, raw, reason FROM ingest_rejects"
    ).fetchall()
    assert (row, raw) == (1, '1,2024-01-01,Refund,"I want my money back')
    assert "starts on line 2" in reason and "close the quote on line 2" in reason


def test_a_nul_byte_rejects_its_row_in_every_text_format(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    csv_path = tmp_path / "t.csv"
    csv_path.write_bytes(
        b"ticket_id,created_at,body\n1,2024-01-01,late\x00order\n2,2024-01-02,ok\n"
    )
    jsonl_path = tmp_path / "t.jsonl"
    jsonl_path.write_bytes(
        b'{"ticket_id": "3", "created_at": "2024-01-03", "body": "raw \x00 nul"}\n'
        b'{"ticket_id": "4", "created_at": "2024-01-04", "body": "escaped \\u0000 nul"}\n'
        b'{"ticket_id": "5", "created_at": "2024-01-05", "body": "fine"}\n'
    )
    parquet_path = tmp_path / "t.parquet"
    pq.write_table(
        pa.table(
            {"ticket_id": ["6", "7"], "created_at": ["2024-01-06"] * 2, "body": ["a\x00", "b"]}
        ),
        parquet_path,
    )
    results = [ingest_tickets(con, path=p) for p in (csv_path, jsonl_path, parquet_path)]
    assert [r.rejects_by_reason for r in results] == [
        {"NUL byte": 1},
        {"NUL byte": 2},
        {"NUL byte": 1},
    ]
    assert [
        r[0] for r in con.execute("SELECT source_ticket_id FROM tickets ORDER BY 1").fetchall()
    ] == ["2", "5", "7"]
    assert con.execute(
        "SELECT count(*) FROM ingest_rejects WHERE raw LIKE '%' || chr(0) || '%'"
    ).fetchone() == (0,)


def test_a_binary_parquet_column_is_text_and_its_bad_bytes_a_bad_encoding_reject(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = tmp_path / "t.parquet"
    table = pa.table(
        {
            "ticket_id": ["1", "2", "3"],
            "created_at": ["2024-01-01"] * 3,
            "body": pa.array([b"bytes body", b"\xff\xfe bad", "caf\u00e9".encode()], pa.binary()),
        }
    )
    pq.write_table(table, path)
    result = ingest_tickets(con, path=path)
    assert (result.new, result.rejected) == (2, 1)
    assert result.rejects_by_reason == {"bad encoding": 1}
    assert con.execute("SELECT ticket_id, body FROM tickets ORDER BY 1").fetchall() == [
        ("1", "bytes body"),
        ("3", "café"),
    ]
    assert con.execute("SELECT row_number FROM ingest_rejects").fetchall() == [(2,)]
