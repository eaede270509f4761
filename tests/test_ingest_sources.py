"""Help-desk exports, incremental reads and the nothing-lost property of ingest."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from persona_mining import warehouse as db
from persona_mining.errors import ConfigError
from persona_mining.ingest.load import ingest_customers, ingest_tickets
from tests.conftest import write

ZENDESK = Path(__file__).parent / "data" / "zendesk"


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return con.execute(sql).fetchall()


def test_a_zendesk_export_page_is_read_with_the_preset(con: duckdb.DuckDBPyConnection) -> None:
    result = ingest_tickets(con, path=ZENDESK / "tickets_page1.json", preset="zendesk")
    assert (result.read, result.new, result.rejected) == (4, 3, 1)
    assert rows(
        con,
        "SELECT ticket_id, customer_id, channel, status, satisfaction_rating_score, tags "
        "FROM tickets ORDER BY ticket_id",
    ) == [
        ("101", "501", "email", "open", "unoffered", '["shipping"]'),
        ("102", "502", "web", "open", "bad", '["refund", "returns"]'),
        ("103", None, "mobile", "open", "unoffered", '["shipping"]'),
    ]
    columns = set(db.table_columns(con, "tickets"))
    assert (
        "url" not in columns and "raw_subject" not in columns and "collaborator_ids" not in columns
    )
    assert rows(con, "SELECT reason FROM ingest_rejects") == [
        ("empty text: subject and body are both empty",)
    ]


def test_the_next_export_updates_and_adds_tickets(con: duckdb.DuckDBPyConnection) -> None:
    ingest_tickets(con, path=ZENDESK / "tickets_page1.json", preset="zendesk")
    result = ingest_tickets(con, path=ZENDESK / "tickets_page2.ndjson", preset="zendesk")
    assert (result.new, result.updated) == (1, 1)
    assert rows(
        con, "SELECT status, satisfaction_rating_score FROM tickets WHERE ticket_id = '102'"
    ) == [("solved", "good")]


def test_zendesk_users_become_customers_without_names_emails_or_phones(
    con: duckdb.DuckDBPyConnection,
) -> None:
    result = ingest_customers(con, path=ZENDESK / "users.json", preset="zendesk")
    assert result.new == 3
    columns = set(db.table_columns(con, "customers"))
    assert {"user_fields_plan", "user_fields_segment", "locale", "time_zone"} <= columns
    assert not columns & {"name", "email", "phone", "photo"}
    assert rows(con, "SELECT customer_id FROM customers WHERE user_fields_plan = 'premium'") == [
        ("501",)
    ]


def test_a_watermark_makes_the_next_run_read_only_newer_rows(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    header = "ticket_id,created_at,updated_at,body\n"
    folder = tmp_path / "exports"
    folder.mkdir()
    write(folder / "day1.csv", header + "1,2026-01-01,2026-01-01,a\n2,2026-01-02,2026-01-02,b\n")
    first = ingest_tickets(con, path=folder)
    write(
        folder / "day2.csv",
        header + "2,2026-01-02,2026-01-03,b edited\n3,2026-01-03,2026-01-03,c\n",
    )
    second = ingest_tickets(con, path=folder)
    # rows at the watermark (2026-01-02) are read again: "at or after", never "after"
    assert (first.new, second.new, second.updated, second.skipped) == (2, 1, 1, 1)
    assert rows(con, "SELECT ticket_id, body FROM tickets ORDER BY 1") == [
        ("1", "a"),
        ("2", "b edited"),
        ("3", "c"),
    ]
    again = ingest_tickets(con, path=folder)
    assert (again.new, again.updated, again.skipped) == (0, 0, 2)
    full = ingest_tickets(con, path=folder, full=True)
    assert (full.new, full.updated, full.skipped, full.unchanged) == (0, 0, 0, 4)


def test_a_filter_records_excluded_rows_as_rejects(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "tweets.csv",
        "tweet_id,author_id,inbound,created_at,text\n"
        "1,acme,False,Tue Oct 31 22:10:47 +0000 2017,@115712 we can help\n"
        "2,115712,True,Tue Oct 31 22:11:45 +0000 2017,@acme and how do you propose we do that\n",
    )
    result = ingest_tickets(
        con,
        path=path,
        columns={"ticket_id": "tweet_id", "customer_id": "author_id", "body": "text"},
        where="inbound = 'True'",
    )
    assert (result.new, result.rejected) == (1, 1)
    assert rows(con, "SELECT ticket_id, created_at::VARCHAR FROM tickets") == [
        ("2", "2017-10-31 22:11:45")
    ]
    assert "excluded by the ingest filter" in rows(con, "SELECT reason FROM ingest_rejects")[0][0]


def test_a_bad_filter_is_a_config_error(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "ticket_id,created_at,body\n1,2026-01-01,x\n")
    with pytest.raises(ConfigError, match="ingest filter"):
        ingest_tickets(con, path=path, where="no_such_column = 1")
    with pytest.raises(ConfigError, match=r"gives VARCHAR, not true/false; .*inbound = 'True'"):
        ingest_tickets(con, path=path, where="body")  # a text column, not a condition


def test_generated_ids_and_times_for_exports_without_them(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "multi.csv",
        "subject,body,queue\nHilfe,Mein Konto ist gesperrt,IT\nHelp,Locked out,IT\n",
    )
    result = ingest_tickets(
        con, path=path, columns={"ticket_id": "@row", "created_at": "@file_time"}
    )
    assert result.new == 2
    assert rows(con, "SELECT ticket_id FROM tickets ORDER BY 1") == [
        ("multi.csv:1",),
        ("multi.csv:2",),
    ]
    again = ingest_tickets(
        con, path=path, columns={"ticket_id": "@row", "created_at": "@file_time"}
    )
    assert again.new == 0


def test_an_unknown_preset_is_a_config_error(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ConfigError, match="unknown; known presets"):
        ingest_tickets(con, path=ZENDESK / "tickets_page1.json", preset="freshdesk")


_field = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30
)


@pytest.mark.heavy
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.lists(
        st.tuples(
            st.one_of(st.just(""), st.integers(0, 30).map(str), _field),
            st.sampled_from(["2026-01-01", "2026-01-02T10:00:00Z", "", "soon", "02/03/2026"]),
            _field,
        ),
        min_size=1,
        max_size=25,
    )
)
def test_every_input_row_lands_in_tickets_or_rejects(
    data: list[tuple[str, str, str]], tmp_path: Path
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["ticket_id", "created_at", "body"])
    writer.writerows(data)
    path = tmp_path / "fuzz.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    con = db.connect(":memory:")
    try:
        result = ingest_tickets(con, path=path)
        assert result.read == len(data)
        assert result.new + result.unchanged + result.rejected == result.read
        distinct = {t.strip() for t, c, b in data if t.strip()}
        stored = {r[0] for r in rows(con, "SELECT ticket_id FROM tickets")}
        assert stored <= distinct
        rejected_rows = rows(con, "SELECT count(*) FROM ingest_rejects")[0][0]
        assert rejected_rows == result.rejected
    finally:
        con.close()
