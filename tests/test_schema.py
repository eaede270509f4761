"""The warehouse schema: migrations apply once, views answer, the contract tables exist."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from persona_mining import warehouse as db
from persona_mining.errors import WarehouseBusyError, WarehouseError

CONTRACT_TABLES = {
    "tickets": {
        "ticket_id",
        "customer_id",
        "created_at",
        "updated_at",
        "channel",
        "subject",
        "body",
    },
    "customers": {"customer_id"},
    "ingest_rejects": {"source", "row_number", "raw", "reason", "ingested_at"},
    "topics": {"model_id", "topic_id", "label", "keywords", "size"},
    "ticket_topics": {"ticket_id", "model_id", "topic_id", "probability"},
    "segments": {"segment_id", "name", "kind", "description", "rule"},
    "customer_segments": {"customer_id", "segment_id"},
    "issue_by_persona": {
        "segment_id",
        "topic_id",
        "tickets",
        "customers",
        "share",
        "baseline_share",
        "lift",
        "ci_low",
        "ci_high",
        "p_value",
        "q_value",
        "significant",
    },
}


def test_migrations_apply_once_and_twice_changes_nothing(con: duckdb.DuckDBPyConnection) -> None:
    assert db.migrate(con) == []
    versions = con.execute("SELECT count(*) FROM schema_migrations").fetchone()
    assert versions == (len(list(db.SCHEMA_DIR.glob("*.sql"))),)


def test_every_view_can_be_selected_from(con: duckdb.DuckDBPyConnection) -> None:
    names = db.view_names()
    assert {"v_issue_by_persona", "v_persona_profiles", "v_ticket_topics"} <= set(names)
    for name in names:
        con.execute(f"SELECT * FROM {name}").fetchall()


def test_contract_tables_have_their_columns(con: duckdb.DuckDBPyConnection) -> None:
    for table, columns in CONTRACT_TABLES.items():
        assert columns <= set(db.table_columns(con, table)), table


def test_a_second_writer_gets_a_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "w.duckdb"
    db.connect(path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(path)!r}); print('ok', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        with pytest.raises(WarehouseBusyError, match="another persona-mining process"):
            db.connect(path)
    finally:
        holder.kill()
        holder.wait()


def test_read_only_open_of_a_missing_warehouse_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="persona-mining ingest"):
        db.connect(tmp_path / "missing.duckdb", read_only=True)


def test_a_failed_transaction_writes_nothing(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(RuntimeError), db.transaction(con):
        con.execute("INSERT INTO segments VALUES ('x', 'X', 'rule', '', 'true')")
        raise RuntimeError("boom")
    assert con.execute("SELECT count(*) FROM segments").fetchone() == (0,)
