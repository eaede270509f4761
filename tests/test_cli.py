"""The command line: options, output formats, errors as one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from persona_mining.cli import app
from tests.conftest import write

runner = CliRunner()


def test_help_lists_the_contract_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "ingest", "run", "table", "sql"):
        assert command in result.output


def test_ingest_prints_a_summary_with_reject_reasons(tmp_path: Path) -> None:
    tickets = write(
        tmp_path / "t.csv",
        "Ticket ID,created_at,body\n1,2026-01-01,hello\n2,never,bad date\n",
    )
    db = tmp_path / "w.duckdb"
    result = runner.invoke(
        app, ["ingest", "--tickets", str(tickets), "--map", "ticket_id=Ticket ID", "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    assert "read 2, new 1" in result.output and "unparseable created_at" in result.output


def test_ingest_exits_non_zero_when_nothing_usable_was_read(tmp_path: Path) -> None:
    tickets = write(tmp_path / "t.csv", "ticket_id,created_at,body\n1,never,x\n")
    result = runner.invoke(
        app, ["ingest", "--tickets", str(tickets), "--db", str(tmp_path / "w.duckdb")]
    )
    assert result.exit_code == 1


def test_errors_are_one_line_and_exit_code_two(tmp_path: Path) -> None:
    tickets = write(tmp_path / "t.csv", "id,created_at,body\n1,2026-01-01,x\n")
    result = runner.invoke(
        app, ["ingest", "--tickets", str(tickets), "--db", str(tmp_path / "w.duckdb")]
    )
    assert result.exit_code == 2
    assert "column 'ticket_id' missing" in result.output and "Traceback" not in result.output


def test_a_bad_mapping_option_is_reported(tmp_path: Path) -> None:
    tickets = write(tmp_path / "t.csv", "ticket_id,created_at,body\n1,2026-01-01,x\n")
    result = runner.invoke(
        app,
        [
            "ingest",
            "--tickets",
            str(tickets),
            "--map",
            "ticket",
            "--db",
            str(tmp_path / "w.duckdb"),
        ],
    )
    assert result.exit_code == 2 and "CANONICAL=COLUMN" in result.output


def test_sql_is_read_only_and_formats_json(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    tickets = write(tmp_path / "t.csv", "ticket_id,created_at,body\n1,2026-01-01,x\n")
    runner.invoke(app, ["ingest", "--tickets", str(tickets), "--db", str(db)])
    result = runner.invoke(
        app, ["sql", "SELECT ticket_id, body FROM tickets", "--db", str(db), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"ticket_id": "1", "body": "x"}]
    result = runner.invoke(app, ["sql", "DELETE FROM tickets", "--db", str(db)])
    assert result.exit_code == 2 and "only reads" in result.output.lower()
    assert (
        runner.invoke(app, ["sql", "SELECT count(*) FROM tickets", "--db", str(db)]).exit_code == 0
    )
    commented = "-- tickets per source\nSELECT source, count(*) AS n FROM tickets GROUP BY 1"
    result = runner.invoke(app, ["sql", commented, "--db", str(db), "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.output) == [{"source": "t", "n": 1}]


def test_table_on_an_empty_warehouse_says_so(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    tickets = write(tmp_path / "t.csv", "ticket_id,created_at,body\n1,2026-01-01,x\n")
    runner.invoke(app, ["ingest", "--tickets", str(tickets), "--db", str(db)])
    result = runner.invoke(app, ["table", "--db", str(db)])
    assert result.exit_code == 0 and "no rows" in result.output


def test_the_library_never_imports_prefect() -> None:
    code = (
        "import sys, persona_mining.ingest.load, persona_mining.text.prepare, persona_mining.text.embed, "
        "persona_mining.topics.model, persona_mining.personas.segments, persona_mining.personas.link, persona_mining.personas.profiles, "
        "persona_mining.cli; print('prefect' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_unknown_profile_is_refused_before_anything_runs(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--profile", "turbo", "--db", str(tmp_path / "w.duckdb")])
    assert result.exit_code == 2
    assert "profile = 'turbo'" in result.output and "fast" in result.output
    assert not (tmp_path / "w.duckdb").exists()


def test_ingest_sources_says_what_each_source_stored_before_one_fails(tmp_path: Path) -> None:
    good = write(tmp_path / "good.csv", "ticket_id,created_at,body\n1,2026-01-01,hello there\n")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 8)  # a zip archive named .csv
    config = write(
        tmp_path / "c.toml",
        f'[[sources]]\nkind = "tickets"\npath = "{good}"\nname = "good"\n'
        f'[[sources]]\nkind = "tickets"\npath = "{bad}"\nname = "bad"\n',
    )
    args = ["ingest", "--sources", "--config", str(config), "--db", str(tmp_path / "w.duckdb")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert "tickets good" in lines, lines  # the source, on a line of its own
    assert any(line.startswith("tickets (source good): read 1, new 1") for line in lines)
    assert "looks binary" in result.output


def test_run_on_a_warehouse_without_tickets_says_to_ingest_first(tmp_path: Path) -> None:
    customers = write(tmp_path / "c.csv", "customer_id,plan\nc1,free\n")
    db = tmp_path / "w.duckdb"
    ingested = runner.invoke(app, ["ingest", "--customers", str(customers), "--db", str(db)])
    assert ingested.exit_code == 0, ingested.output
    result = runner.invoke(app, ["run", "--db", str(db)])
    assert result.exit_code == 2, result.output
    assert "holds no tickets yet: ingest some first" in result.output
    assert "prefect" not in result.output.lower()  # stopped before any flow started


def test_an_empty_table_on_a_desk_without_personas_says_how_to_get_them(tmp_path: Path) -> None:
    from persona_mining import warehouse

    path = tmp_path / "w.duckdb"
    warehouse.connect(path).close()
    result = runner.invoke(app, ["table", "--db", str(path)])
    assert result.exit_code == 0, result.output
    assert "no rows" in result.output and "[[personas]]" in result.output
    assert "persona-mining discover" in result.output
    # What each issue costs: no persona to cost it for, whatever the tickets' columns.
    result = runner.invoke(app, ["table", "--sort", "impact", "--db", str(path)])
    assert result.exit_code == 0, result.output
    assert "[[personas]]" in result.output and "outcome columns" not in result.output
