"""Ticket identity: a ticket is identified within its source, and a watermark is tied to the
settings that produced it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from persona_mining import warehouse as db
from persona_mining.errors import ConfigError
from persona_mining.ingest.load import default_source_name, ingest_tickets
from tests.conftest import write

KAGGLE = (
    "Ticket ID,Customer Email,Date of Purchase,Ticket Subject,Ticket Description\n"
    "1,a@x.com,2021-03-22,Product setup,My device will not turn on\n"
    "2,b@x.com,2021-05-22,Refund request,I want my money back\n"
    "3,c@x.com,2020-07-14,Network problem,Wifi drops every hour\n"
)
KAGGLE_MAP = {
    "ticket_id": "Ticket ID",
    "customer_id": "Customer Email",
    "created_at": "Date of Purchase",
    "subject": "Ticket Subject",
    "body": "Ticket Description",
}
TWITTER = (
    "tweet_id,author_id,inbound,created_at,text\n"
    "1,115712,True,Tue Oct 31 22:10:47 +0000 2017,@sprintcare my phone is dead\n"
    "2,sprintcare,False,Tue Oct 31 22:11:45 +0000 2017,@115712 please DM us\n"
    "3,115713,True,Tue Oct 31 22:12:00 +0000 2017,@sprintcare still no signal\n"
    "4,115714,True,Tue Oct 31 22:13:00 +0000 2017,@sprintcare bill is wrong\n"
)
TWITTER_MAP = {"ticket_id": "tweet_id", "customer_id": "author_id", "body": "text"}


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return con.execute(sql).fetchall()


def test_two_sources_with_the_same_ids_both_land_whole(con, tmp_path: Path) -> None:
    kaggle = write(tmp_path / "customer_support_tickets.csv", KAGGLE)
    twitter = write(tmp_path / "twcs.csv", TWITTER)
    first = ingest_tickets(con, path=kaggle, columns=KAGGLE_MAP)
    second = ingest_tickets(con, path=twitter, columns=TWITTER_MAP, where="inbound = 'True'")
    assert (first.source, first.new) == ("customer_support_tickets", 3)
    assert (second.source, second.new, second.unchanged, second.rejected) == ("twcs", 3, 0, 1)
    assert rows(
        con, "SELECT ticket_id, source, source_ticket_id FROM tickets ORDER BY source, ticket_id"
    ) == [
        ("1", "customer_support_tickets", "1"),
        ("2", "customer_support_tickets", "2"),
        ("3", "customer_support_tickets", "3"),
        ("twcs:1", "twcs", "1"),
        ("twcs:3", "twcs", "3"),
        ("twcs:4", "twcs", "4"),
    ]
    assert rows(con, "SELECT body FROM tickets WHERE ticket_id = '1'") == [
        ("My device will not turn on",)
    ]


def test_re_ingesting_either_source_changes_nothing(con, tmp_path: Path) -> None:
    kaggle = write(tmp_path / "customer_support_tickets.csv", KAGGLE)
    twitter = write(tmp_path / "twcs.csv", TWITTER)
    ingest_tickets(con, path=kaggle, columns=KAGGLE_MAP)
    ingest_tickets(con, path=twitter, columns=TWITTER_MAP)
    before = rows(con, "SELECT * EXCLUDE (ingested_at) FROM tickets ORDER BY ticket_id")
    for path, mapping, n in [(twitter, TWITTER_MAP, 4), (kaggle, KAGGLE_MAP, 3)]:
        again = ingest_tickets(con, path=path, columns=mapping, full=True)
        assert (again.new, again.updated, again.unchanged) == (0, 0, n)
    assert rows(con, "SELECT * EXCLUDE (ingested_at) FROM tickets ORDER BY ticket_id") == before
    assert rows(con, "SELECT source, key_prefix FROM ticket_sources ORDER BY 1") == [
        ("customer_support_tickets", ""),
        ("twcs", "twcs:"),
    ]


def test_a_ticket_that_moves_between_files_of_one_source_stays_one_ticket(
    con, tmp_path: Path
) -> None:
    header = "ticket_id,created_at,updated_at,body\n"
    ingest_tickets(con, path=write(tmp_path / "other.csv", header + "1,2025-01-01,,unrelated\n"))
    jan = write(tmp_path / "tickets-2026-01.csv", header + "7,2026-01-30,2026-01-30,first\n")
    feb = write(tmp_path / "tickets-2026-02.csv", header + "7,2026-01-30,2026-02-02,second\n")
    mar = write(tmp_path / "march export.csv", header + "7,2026-01-30,2026-03-01,third\n")
    ingest_tickets(con, path=jan)
    assert ingest_tickets(con, path=feb).updated == 1  # same name once the date is dropped
    moved = ingest_tickets(con, path=mar)  # another name, but the same ticket: same source
    assert (moved.source, moved.updated, moved.new) == ("tickets", 1, 0)
    assert rows(con, "SELECT ticket_id, source, body FROM tickets WHERE body <> 'unrelated'") == [
        ("tickets:7", "tickets", "third")
    ]


def test_a_named_source_is_kept_apart_and_a_bad_name_is_refused(con, tmp_path: Path) -> None:
    header = "ticket_id,created_at,body\n"
    ingest_tickets(con, path=write(tmp_path / "a.csv", header + "1,2026-01-01,x\n"))
    same_rows = write(tmp_path / "b.csv", header + "1,2026-01-01,x\n")
    assert ingest_tickets(con, path=same_rows, source="helpdesk-eu").new == 1
    assert rows(con, "SELECT ticket_id FROM tickets ORDER BY 1") == [("1",), ("helpdesk-eu:1",)]
    with pytest.raises(ConfigError, match="ticket source 'eu; drop'"):
        ingest_tickets(con, path=same_rows, source="eu; drop")


def test_the_source_name_comes_from_the_file_or_folder_name() -> None:
    assert default_source_name(Path("exports/customer_support_tickets.csv")) == (
        "customer_support_tickets"
    )
    assert default_source_name(Path("tickets_2026-01-31.csv.gz")) == "tickets"
    assert default_source_name(Path("Zendesk Export 3.json")) == "zendesk_export"
    assert default_source_name(Path("exports/2026")) == "2026"


def test_a_changed_mapping_reads_the_whole_source_again(con, tmp_path: Path) -> None:
    kaggle = write(tmp_path / "customer_support_tickets.csv", KAGGLE)
    without_customer = {k: v for k, v in KAGGLE_MAP.items() if k != "customer_id"}
    ingest_tickets(con, path=kaggle, columns=without_customer)
    same = ingest_tickets(con, path=kaggle, columns=without_customer)
    assert (same.skipped, same.reread) == (2, "")  # the watermark holds for the same settings
    fixed = ingest_tickets(con, path=kaggle, columns=KAGGLE_MAP)
    assert (fixed.updated, fixed.skipped) == (3, 0) and "mapping" in fixed.reread
    assert rows(con, "SELECT count(customer_id) FROM tickets") == [(3,)]
    assert ingest_tickets(con, path=kaggle, columns=KAGGLE_MAP).skipped == 2


def old_warehouse(path: Path, tickets: Path) -> None:
    """A warehouse as the versions before migration 060 left it: tickets keyed by their id
    alone, `source` naming the file, and a watermark without settings."""
    con = db.connect(path)
    ingest_tickets(con, path=tickets, columns=KAGGLE_MAP)
    con.execute("UPDATE tickets SET source = source_file")
    con.execute("ALTER TABLE tickets DROP COLUMN source_file")
    con.execute("ALTER TABLE tickets DROP COLUMN source_ticket_id")
    con.execute("ALTER TABLE ingest_watermarks DROP COLUMN ticket_source")
    con.execute("ALTER TABLE ingest_watermarks DROP COLUMN settings")
    con.execute("DROP TABLE ticket_sources")
    con.execute("DELETE FROM schema_migrations WHERE version = 60")
    for view in db.view_names():
        con.execute(f"DROP VIEW {view}")
    con.close()


def test_an_old_warehouse_is_upgraded_and_its_source_re_ingests_unchanged(tmp_path: Path) -> None:
    kaggle = write(tmp_path / "customer_support_tickets.csv", KAGGLE)
    old_warehouse(tmp_path / "old.duckdb", kaggle)
    con = db.connect(tmp_path / "old.duckdb")
    try:
        upgraded = "SELECT ticket_id, source, source_ticket_id, source_file FROM tickets ORDER BY 1"
        assert rows(con, upgraded)[0] == ("1", "tickets", "1", str(kaggle.resolve()))
        again = ingest_tickets(con, path=kaggle, columns=KAGGLE_MAP)
        assert (again.source, again.new, again.updated, again.unchanged) == ("tickets", 0, 0, 3)
        assert again.reread  # settings unknown before the upgrade: read every row once
        twitter = ingest_tickets(
            con, path=write(tmp_path / "twcs.csv", TWITTER), columns=TWITTER_MAP
        )
        assert (twitter.source, twitter.new) == ("twcs", 4)
        assert rows(con, "SELECT count(*) FROM tickets") == [(7,)]
        for view in db.view_names():
            con.execute(f"SELECT * FROM {view}").fetchall()
    finally:
        con.close()


def test_a_changed_ticket_id_mapping_stops_before_it_duplicates_the_source(
    con, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    kaggle = write(tmp_path / "customer_support_tickets.csv", KAGGLE)
    ingest_tickets(con, path=kaggle, columns=KAGGLE_MAP)
    by_email = {**KAGGLE_MAP, "ticket_id": "Customer Email"}
    with pytest.raises(ConfigError, match=r"'Ticket ID'.*'Customer Email'.*3 tickets.*--source"):
        ingest_tickets(con, path=kaggle, columns=by_email)
    assert rows(con, "SELECT count(*) FROM tickets") == [(3,)]
    # Another mapping that keeps the ids re-reads every row, and a new source is a choice.
    fixed = ingest_tickets(con, path=kaggle, columns={**KAGGLE_MAP, "channel": "Ticket Subject"})
    assert fixed.reread and fixed.new == 0
    other = ingest_tickets(con, path=kaggle, columns=by_email, source="by_email")
    assert other.new == 3 and rows(con, "SELECT count(*) FROM tickets") == [(6,)]
