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
    assert default_source_name(Path("exports/2026")) == "2026"


@pytest.mark.parametrize(
    "name",
    [
        "tickets-2026-01.csv",
        "tickets-2026-01-31.csv",
        "tickets_20260131.csv",
        "tickets_2026_01.csv",
        "tickets 2026-01-31 12-00.jsonl",
        "tickets_20260131T120000.csv",
        "tickets_2026-01-01_2026-01-31.csv",
        "tickets-2024.parquet",
    ],
)
def test_a_trailing_date_is_left_out_of_the_source_name(name: str) -> None:
    assert default_source_name(Path(name)) == "tickets"


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("export1.csv", "export1"),
        ("export2.csv", "export2"),
        ("c_latin1.csv", "c_latin1"),
        ("c_cp1252.csv", "c_cp1252"),
        ("Zendesk Export 3.json", "zendesk_export_3"),
        ("tickets_202613.csv", "tickets_202613"),  # no month 13
        ("2026-01.csv", "2026_01"),  # only a date: the date is the name
    ],
)
def test_a_trailing_number_that_is_not_a_date_stays_in_the_source_name(
    name: str, source: str
) -> None:
    assert default_source_name(Path(name)) == source


def test_another_help_desks_file_of_the_same_name_is_a_new_source(con, tmp_path: Path) -> None:
    header = "ticket_id,created_at,subject,body\n"
    for folder in ("hdA", "hdB", "hdC", "copy"):
        (tmp_path / folder).mkdir()
    a = write(
        tmp_path / "hdA" / "tickets.csv", header + "1,2024-01-01,a,A one\n2,2024-01-02,b,A two\n"
    )
    b = write(
        tmp_path / "hdB" / "tickets.csv", header + "1,2024-03-01,x,B one\n2,2024-03-02,y,B two\n"
    )
    first, second = ingest_tickets(con, path=a), ingest_tickets(con, path=b)
    assert (first.source, first.new, first.note) == ("tickets", 2, "")
    assert (second.source, second.new, second.updated) == ("tickets_2", 2, 0)
    assert "source tickets holds other tickets under 2 of these ids" in second.note
    assert rows(con, "SELECT ticket_id, source, body FROM tickets ORDER BY 1") == [
        ("1", "tickets", "A one"),
        ("2", "tickets", "A two"),
        ("tickets_2:1", "tickets_2", "B one"),
        ("tickets_2:2", "tickets_2", "B two"),
    ]
    # Each path keeps its source when read again, a third help desk takes the next name, and
    # a copy of help desk B's export under another folder repeats its tickets: same source.
    for path, source in [(a, "tickets"), (b, "tickets_2"), (a, "tickets"), (b, "tickets_2")]:
        again = ingest_tickets(con, path=path)
        assert (again.source, again.new, again.updated, again.note) == (source, 0, 0, "")
    c = write(tmp_path / "hdC" / "tickets.csv", header + "1,2025-01-01,z,C one\n")
    assert ingest_tickets(con, path=c).source == "tickets_3"
    copy = write(tmp_path / "copy" / "tickets.csv", b.read_text())
    copied = ingest_tickets(con, path=copy)
    assert (copied.source, copied.new, copied.unchanged, copied.note) == ("tickets_2", 0, 2, "")
    assert rows(con, "SELECT count(*) FROM tickets") == [(5,)]


def test_monthly_exports_join_one_source_whatever_their_ids(con, tmp_path: Path) -> None:
    header = "ticket_id,created_at,updated_at,body\n"
    jan = write(tmp_path / "tickets-2026-01.csv", header + "7,2026-01-30,2026-01-30,first\n")
    feb = write(tmp_path / "tickets-2026-02.csv", header + "8,2026-02-03,2026-02-03,new\n")
    mar = write(tmp_path / "tickets-2026-03.csv", header + "7,2026-01-30,2026-03-01,third\n")
    results = [ingest_tickets(con, path=p) for p in (jan, feb, mar)]
    assert [(r.source, r.new, r.updated) for r in results] == [
        ("tickets", 1, 0),
        ("tickets", 1, 0),  # no id in common: joins by its name
        ("tickets", 0, 1),
    ]
    assert rows(con, "SELECT ticket_id, body FROM tickets ORDER BY 1") == [
        ("7", "third"),
        ("8", "new"),
    ]


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
