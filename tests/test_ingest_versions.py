"""Ticket versions across several ingests, against a model of the rules in `ingest.load`.

Random files of a few rows, over a handful of ids (some with whitespace around them), creation
and update times and texts, are ingested one after the other into one source. After each file,
the stored tickets and the counts must be what the documented rules give:

- an id is trimmed of whitespace; a row without one, or without text (whitespace only), is a
  reject;
- `updated_at` is at least `created_at` (the creation time when it is empty);
- rows of one id with the same `updated_at` and different data are all rejects (every row with
  that id and time counts, a rejected one too);
- of the others, rows of one id with different `created_at` are tickets that share an id, and
  all rejects;
- of the others, the latest `updated_at` wins, the last row of the file at equal times;
- it replaces the stored ticket when it is at least as new and its data differ.
"""

from __future__ import annotations

import csv
import random
from datetime import datetime
from pathlib import Path

from persona_mining import warehouse as db
from persona_mining.ingest.load import ingest_tickets

IDS = ["1", "2", "3", " 2", "3\t", "\u00a01"]
CREATED = ["2026-01-01T00:00:00", "2026-01-02T00:00:00", "2026-01-03T00:00:00"]
UPDATED = ["", "2026-01-02T12:00:00", "2026-01-03T00:00:00", "2026-01-04T00:00:00"]
SUBJECTS = ["", "s", "\t"]
BODIES = ["a", "b", "", "c", "\u00a0\n"]

Row = tuple[str, str, str, str, str]  # ticket_id, created_at, updated_at, subject, body
Stored = tuple[datetime, datetime, str | None, str | None]


def _model(store: dict[str, Stored], rows: list[Row]) -> dict[str, int]:
    """Apply one file to `store` by the rules above; the counts an ingest reports."""
    parsed = []
    for number, (raw_id, created_text, updated_text, subject, body) in enumerate(rows, 1):
        ticket_id = raw_id.strip()
        created = datetime.fromisoformat(created_text)
        updated = max(datetime.fromisoformat(updated_text), created) if updated_text else created
        empty = not subject.strip() and not body.strip()
        parsed.append(
            {
                "number": number,
                "id": ticket_id,
                "updated": updated,
                "data": (created, updated, subject or None, body or None),
                "rejected": not ticket_id or empty,
            }
        )
    versions: dict[tuple[str, datetime], set[Stored]] = {}
    for row in parsed:
        versions.setdefault((row["id"], row["updated"]), set()).add(row["data"])
    for row in parsed:
        if len(versions[(row["id"], row["updated"])]) > 1:
            row["rejected"] = True
    created: dict[str, set[datetime]] = {}
    for row in parsed:
        if not row["rejected"]:
            created.setdefault(row["id"], set()).add(row["data"][0])
    for row in parsed:
        if not row["rejected"] and len(created[row["id"]]) > 1:
            row["rejected"] = True
    latest: dict[str, dict] = {}
    for row in parsed:
        best = latest.get(row["id"])
        if not row["rejected"] and (
            best is None or (row["updated"], row["number"]) > (best["updated"], best["number"])
        ):
            latest[row["id"]] = row
    new = updated = 0
    for ticket_id, row in latest.items():
        stored = store.get(ticket_id)
        if stored is None:
            new += 1
        elif row["updated"] >= stored[1] and row["data"] != stored:
            updated += 1
        else:
            continue
        store[ticket_id] = row["data"]
    valid = sum(not row["rejected"] for row in parsed)
    rejected = len(parsed) - valid
    return {
        "new": new,
        "updated": updated,
        "unchanged": valid - new - updated,
        "rejected": rejected,
    }


def _random_rows(rng: random.Random) -> list[Row]:
    """One to six rows drawn from the ids, dates and texts above."""
    return [
        (
            rng.choice(IDS),
            rng.choice(CREATED),
            rng.choice(UPDATED),
            rng.choice(SUBJECTS),
            rng.choice(BODIES),
        )
        for _ in range(rng.randint(1, 6))
    ]


def test_versions_across_ingests_follow_the_rules(tmp_path: Path) -> None:
    rng = random.Random(5)
    for case in range(25):
        con = db.connect(tmp_path / f"w{case}.duckdb")
        store: dict[str, Stored] = {}
        for _ in range(rng.randint(1, 4)):
            rows = _random_rows(rng)
            path = tmp_path / "tickets.csv"
            with path.open("w", newline="", encoding="utf-8") as file:
                writer = csv.writer(file)
                writer.writerow(["ticket_id", "created_at", "updated_at", "subject", "body"])
                writer.writerows(rows)
            expected = _model(store, rows)
            result = ingest_tickets(con, path=path, source="desk", full=True)
            got = {
                "new": result.new,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "rejected": result.rejected,
            }
            assert got == expected, rows
            stored = con.execute(
                "SELECT source_ticket_id, created_at, updated_at, subject, body FROM tickets"
            ).fetchall()
            assert {t: (c, u, s, b) for t, c, u, s, b in stored} == store, rows
        con.close()


def _write(path: Path, rows: list[Row], *, updated: bool) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        if updated:
            writer.writerow(["ticket_id", "created_at", "updated_at", "subject", "body"])
            writer.writerows(rows)
        else:  # dated by created_at alone: an edit keeps its date
            writer.writerow(["ticket_id", "created_at", "subject", "body"])
            writer.writerows((i, c, s, b) for i, c, _, s, b in rows)


def test_an_incremental_ingest_stores_what_reading_every_row_stores(tmp_path: Path) -> None:
    """The watermark only spares work: new ids and edits before it are read all the same."""
    rng = random.Random(11)
    stored = "SELECT * EXCLUDE (ingested_at) FROM tickets ORDER BY ticket_id"
    for case in range(25):
        updated = case % 2 == 0
        incremental = db.connect(tmp_path / f"i{case}.duckdb")
        full = db.connect(tmp_path / f"f{case}.duckdb")
        path = tmp_path / f"tickets{case}.csv"
        for _ in range(rng.randint(2, 4)):
            rows = _random_rows(rng)
            _write(path, rows, updated=updated)
            got = ingest_tickets(incremental, path=path, source="desk")
            want = ingest_tickets(full, path=path, source="desk", full=True)
            assert (got.new, got.updated, got.rejected) == (want.new, want.updated, want.rejected)
            assert got.unchanged + got.skipped == want.unchanged, rows
            assert incremental.execute(stored).fetchall() == full.execute(stored).fetchall(), rows
        incremental.close()
        full.close()
