"""The documentation is part of the contract: commands, views and ready queries are covered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from persona_mining import warehouse as db
from persona_mining.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
WAREHOUSE_DOC = (ROOT / "docs" / "warehouse.md").read_text(encoding="utf-8")
QUERIES = re.findall(r"```sql\n(.*?)```", WAREHOUSE_DOC, flags=re.S)


def test_the_readme_starts_with_the_two_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, flags=re.S)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands[:2] == ["make demo", "make test"]


def test_every_cli_command_is_documented_in_the_readme() -> None:
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert commands
    for name in commands:
        assert f"| `{name}` |" in README, name


def test_every_view_and_table_is_documented() -> None:
    for view in db.view_names():
        assert f"### `{view}`" in WAREHOUSE_DOC, view
    con = db.connect(":memory:")
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT temporary"
        ).fetchall()
    ]
    con.close()
    for table in tables:
        assert f"| `{table}` |" in WAREHOUSE_DOC, table


@pytest.mark.slow
@pytest.mark.parametrize("query", QUERIES, ids=[f"query{i}" for i in range(len(QUERIES))])
def test_every_documented_query_runs_on_the_demo_warehouse(
    demo_run: dict[str, object], query: str
) -> None:
    con = db.connect(demo_run["config"].warehouse.path, read_only=True)  # type: ignore[attr-defined]
    try:
        rows = con.execute(query).fetchall()
    finally:
        con.close()
    # The demo data is clean, so only the rejects query may come back empty there.
    assert rows or "ingest_rejects" in query, query
