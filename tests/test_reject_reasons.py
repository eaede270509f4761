"""Reject reasons name the real problem and keep the start of the raw row."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb

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
