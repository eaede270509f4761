"""Pulling from Zendesk's incremental export over real HTTP, against a local server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from persona_mining import warehouse as db
from persona_mining.config import Config, config_from_dict
from persona_mining.errors import ConfigError, SourceAuthError, SourceError
from persona_mining.ingest.pull import PullProgress
from persona_mining.ingest.sources import ingest_source
from persona_mining.pipeline import run_pipeline
from tests.zendesk_server import EMAIL, TOKEN, Fault, ZendeskDouble, ticket, user, zendesk_server

ENV = {"ZENDESK_API_TOKEN": TOKEN}


def config(url: str, **extra: Any) -> Config:
    source = {
        "type": "zendesk",
        "url": url,
        "email": EMAIL,
        "token_env": "ZENDESK_API_TOKEN",
        "start": "2026-01-01",
        "page_size": 2,
        **extra,
    }
    return config_from_dict({"sources": [source]})


def account() -> ZendeskDouble:
    return ZendeskDouble(
        pages={
            "users": [
                [
                    user(500, "2026-01-01T10:00:00Z", "free"),
                    user(501, "2026-01-01T11:00:00Z", "premium"),
                ],
                [user(502, "2026-01-02T10:00:00Z", "free")],
            ],
            "tickets": [
                [ticket(1, "2026-01-03T10:00:00Z"), ticket(2, "2026-01-03T11:00:00Z")],
                [
                    ticket(3, "2026-01-04T10:00:00Z"),
                    ticket(4, "2026-01-04T11:00:00Z", description="", subject=""),
                ],
                [ticket(5, "2026-01-05T10:00:00Z")],
            ],
        }
    )


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[object, ...]]]:
    return {
        table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        for table in ("tickets", "customers", "ingest_rejects", "source_cursors")
    }


def test_users_then_tickets_are_pulled_page_by_page_from_the_start_then_the_cursor(
    con: duckdb.DuckDBPyConnection,
) -> None:
    with zendesk_server(account()) as server:
        results = run_pipeline(con, config(server.url), only=["ingest"], environ=ENV)
    name = f"zendesk:{server.url.removeprefix('http://')}"
    assert list(results) == [f"ingest customers {name}", f"ingest tickets {name}"]
    tickets = results[f"ingest tickets {name}"]
    assert (tickets.read, tickets.new, tickets.rejected) == (5, 4, 1)
    assert [(stream, sorted(query)) for stream, query in server.requests] == [
        ("users", ["per_page", "start_time"]),
        ("users", ["cursor", "per_page"]),
        ("tickets", ["per_page", "start_time"]),
        ("tickets", ["cursor", "per_page"]),
        ("tickets", ["cursor", "per_page"]),
    ]
    assert server.requests[0][1]["start_time"] == "1767225600"  # 2026-01-01T00:00:00Z
    assert con.execute(
        "SELECT ticket_id, customer_id, channel, source FROM tickets ORDER BY ticket_id"
    ).fetchall() == [(str(i), str(500 + i % 3), "email", name) for i in (1, 2, 3, 5)]
    assert con.execute("SELECT reason, row_number, source FROM ingest_rejects").fetchall() == [
        ("empty text: subject and body are both empty", 4, name)
    ]
    assert con.execute(
        "SELECT stream, cursor, pages, records FROM source_cursors ORDER BY 1"
    ).fetchall() == [
        ("customers", "users-c2", 2, 3),
        ("tickets", "tickets-c3", 3, 5),
    ]
    assert con.execute(
        "SELECT watermark::VARCHAR FROM ingest_watermarks WHERE source = ?", [f"tickets:{name}"]
    ).fetchall() == [("2026-01-05 10:00:00",)]


def test_users_become_customers_with_their_fields_and_without_names_emails_or_phones(
    con: duckdb.DuckDBPyConnection,
) -> None:
    with zendesk_server(account()) as server:
        ingest_source(con, source=config(server.url).sources[0], kind="customers", environ=ENV)
    columns = set(db.table_columns(con, "customers"))
    assert {"user_fields_plan", "user_fields_segment", "locale"} <= columns
    assert not columns & {"name", "email", "phone", "url"}
    assert con.execute(
        "SELECT customer_id, user_fields_plan FROM customers ORDER BY 1"
    ).fetchall() == [
        ("500", "free"),
        ("501", "premium"),
        ("502", "free"),
    ]
    stored = " ".join(str(v) for row in snapshot(con).values() for r in row for v in r)
    # The phone is "+1 555 0100"; a bare "555" could be in a stored timestamp's microseconds.
    assert "example.com" not in stored and "Person 50" not in stored
    assert "555 0100" not in stored and "5550100" not in stored


def test_pulling_twice_changes_nothing_and_the_next_pull_reads_only_what_is_new(
    con: duckdb.DuckDBPyConnection,
) -> None:
    double = account()
    with zendesk_server(double) as server:
        run_pipeline(con, config(server.url), only=["ingest"], environ=ENV)
        before = snapshot(con)
        double.requests.clear()
        again = run_pipeline(con, config(server.url), only=["ingest"], environ=ENV)
        after = snapshot(con)
        # the stored cursors are used: one empty end-of-stream page per stream
        assert [q.get("cursor") for _, q in double.requests] == ["users-c2", "tickets-c3"]
        double.pages["tickets"].append(
            [ticket(2, "2026-01-06T10:00:00Z", status="solved"), ticket(6, "2026-01-06T11:00:00Z")]
        )
        newer = run_pipeline(con, config(server.url), only=["ingest"], environ=ENV)
    assert all(r.new + r.updated + r.read == 0 for r in again.values())
    assert before["tickets"] == after["tickets"] and before["customers"] == after["customers"]
    assert before["ingest_rejects"] == after["ingest_rejects"]
    name = f"zendesk:{server.url.removeprefix('http://')}"
    assert (newer[f"ingest tickets {name}"].new, newer[f"ingest tickets {name}"].updated) == (1, 1)
    assert con.execute("SELECT status FROM tickets WHERE ticket_id = '2'").fetchall() == [
        ("solved",)
    ]


def test_a_page_that_arrives_twice_lands_once(con: duckdb.DuckDBPyConnection) -> None:
    double = account()
    double.pages["tickets"].insert(2, list(double.pages["tickets"][1]))
    with zendesk_server(double) as server:
        results = run_pipeline(con, config(server.url, users=False), only=["ingest"], environ=ENV)
    (result,) = results.values()
    # each reading of the bad ticket counts; the table keeps one reject row
    assert (result.read, result.new, result.unchanged, result.rejected) == (7, 4, 1, 2)
    assert con.execute("SELECT count(*), count(DISTINCT ticket_id) FROM tickets").fetchall() == [
        (4, 4)
    ]
    assert con.execute("SELECT count(*) FROM ingest_rejects").fetchall() == [(1,)]


def test_a_429_is_honoured_with_its_retry_after_and_a_500_is_retried(
    con: duckdb.DuckDBPyConnection,
) -> None:
    double = account()
    double.faults = [Fault(429, {"Retry-After": "1"}), Fault(500)]
    progress: list[PullProgress] = []
    with zendesk_server(double) as server:
        started = time.monotonic()
        result = ingest_source(
            con, source=config(server.url).sources[0], environ=ENV, progress=progress.append
        )
        seconds = time.monotonic() - started
    assert result.new == 4 and len(double.requests) == 3 + 2
    assert seconds >= 1.0 + 1.0  # Retry-After: 1, then a backoff of at least a second
    assert [(p.pages, p.records, p.done) for p in progress] == [
        (1, 2, False),
        (2, 4, False),
        (3, 5, False),
        (3, 5, True),
    ]


def test_a_bad_token_fails_at_once_naming_the_source_and_never_the_token(
    con: duckdb.DuckDBPyConnection,
) -> None:
    with zendesk_server(account()) as server:
        source = config(server.url).sources[0]
        with pytest.raises(SourceAuthError) as caught:
            ingest_source(con, source=source, environ={"ZENDESK_API_TOKEN": "wrong-token-123"})
    message = str(caught.value)
    assert source.label in message and "ZENDESK_API_TOKEN" in message and "HTTP 401" in message
    assert "wrong-token-123" not in message and len(server.requests) == 1
    assert isinstance(caught.value, ConfigError)  # the flow does not retry it


def test_a_missing_token_variable_is_named(con: duckdb.DuckDBPyConnection) -> None:
    source = config("https://acme.zendesk.com").sources[0]
    with pytest.raises(ConfigError, match="environment variable ZENDESK_API_TOKEN is not set"):
        ingest_source(con, source=source, environ={})


def test_when_retries_run_out_what_was_committed_stays_and_the_next_pull_resumes(
    con: duckdb.DuckDBPyConnection,
) -> None:
    double = account()
    with zendesk_server(double) as server:
        source = config(server.url, users=False, retries=1).sources[0]
        double.faults = []
        # the first page is answered, then the server fails twice: one retry is not enough
        original = double.answer

        def fail_after_first(path: str, query: dict[str, str], auth: str | None) -> Any:
            if query.get("cursor") == "tickets-c1" and len(double.requests) < 3:
                double.requests.append(("tickets", query))
                return 503, {}, "{}"
            return original(path, query, auth)

        double.answer = fail_after_first  # type: ignore[method-assign]
        with pytest.raises(SourceError, match="after 2 attempts") as caught:
            ingest_source(con, source=source, environ=ENV)
        assert TOKEN not in str(caught.value)
        assert con.execute("SELECT count(*) FROM tickets").fetchall() == [(2,)]
        assert con.execute("SELECT cursor FROM source_cursors").fetchall() == [("tickets-c1",)]
        result = ingest_source(con, source=source, environ=ENV)
    assert double.requests[3][1]["cursor"] == "tickets-c1"
    assert (result.read, result.new) == (3, 2)
    assert con.execute("SELECT count(*) FROM tickets").fetchall() == [(4,)]


KILLED_PULL = """
import json
import sys
from persona_mining import warehouse
from persona_mining.config import config_from_dict
from persona_mining.ingest.sources import ingest_source

source = config_from_dict({"sources": [json.loads(sys.argv[3])]}).sources[0]
con = warehouse.connect(sys.argv[1])
ingest_source(con, source=source, environ={"ZENDESK_API_TOKEN": sys.argv[2]})
"""


def test_a_pull_killed_mid_stream_resumes_where_it_stopped_losing_and_doubling_nothing(
    tmp_path: Path,
) -> None:
    double = account()
    double.hang_at = "tickets-c2"
    path = tmp_path / "w.duckdb"
    with zendesk_server(double) as server:
        source = {
            "type": "zendesk",
            "url": server.url,
            "email": EMAIL,
            "token_env": "ZENDESK_API_TOKEN",
            "start": "2026-01-01",
            "page_size": 2,
            "users": False,
        }
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
        process = subprocess.Popen(
            [sys.executable, "-c", KILLED_PULL, str(path), TOKEN, json.dumps(source)], env=env
        )
        try:
            assert double.hanging.wait(timeout=120), "the pull never reached the third page"
            process.kill()
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        double.hang_at = None
        con = db.connect(path)
        try:
            assert con.execute("SELECT count(*) FROM tickets").fetchall() == [(3,)]  # pages 1-2
            assert con.execute("SELECT cursor FROM source_cursors").fetchall() == [("tickets-c2",)]
            double.requests.clear()
            result = ingest_source(
                con, source=config(server.url, users=False).sources[0], environ=ENV
            )
            tickets = con.execute("SELECT ticket_id FROM tickets ORDER BY 1").fetchall()
            rejects = con.execute("SELECT count(*) FROM ingest_rejects").fetchall()
        finally:
            con.close()
    assert [q.get("cursor") for _, q in double.requests] == ["tickets-c2"]
    assert (result.read, result.new) == (1, 1)
    assert tickets == [("1",), ("2",), ("3",), ("5",)] and rejects == [(1,)]


def test_the_cli_draws_pages_records_and_rate_on_a_terminal_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from rich.console import Console

    import persona_mining.cli.pull

    drawn = io.StringIO()
    monkeypatch.setattr(
        persona_mining.cli.pull, "err_console", Console(file=drawn, force_terminal=True, width=120)
    )
    with zendesk_server(account()) as server:
        given = config(server.url)
        warehouse = given.warehouse.model_copy(update={"path": tmp_path / "w.duckdb"})
        monkeypatch.setenv("ZENDESK_API_TOKEN", TOKEN)
        persona_mining.cli.pull.pull_sources(given.model_copy(update={"warehouse": warehouse}))
    text = drawn.getvalue()
    name = f"zendesk:{server.url.removeprefix('http://')}"
    assert f"tickets from {name}" in text and "3 pages, 5 records" in text and "/s" in text
    assert f"customers from {name}" in text and "2 pages, 3 records" in text
