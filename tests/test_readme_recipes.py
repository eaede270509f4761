"""The README's recipes are tests: each command is read out of README.md (or the Makefile) and run
as written on small files shaped like the real exports (tests/data/recipes), so the README and
the tool cannot drift apart."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from persona_mining.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DATA = Path(__file__).resolve().parent / "data" / "recipes"
KAGGLE = DATA / "kaggle_tickets.csv"  # the Kaggle "Customer Support Ticket Dataset" shape
TWITTER = DATA / "twitter_tweets.csv"  # the "Customer Support on Twitter" shape
OWN = DATA / "own"  # canonical columns, as "Using it on your own tickets" expects
KAGGLE_TICKETS, KAGGLE_CUSTOMERS, TWEETS, CUSTOMER_TWEETS = 40, 15, 40, 20

runner = CliRunner()


def commands(text: str) -> list[list[str]]:
    """The `persona-mining` command lines of a shell block, as argument lists (comments,
    line continuations and the `.venv/bin/` prefix handled as a shell would)."""
    found = []
    for line in text.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0].endswith("persona-mining"):
            found.append(words[1:])
    return found


def block(containing: str) -> list[list[str]]:
    """The commands of the README's one shell block that contains `containing`."""
    blocks = [b for b in re.findall(r"```sh\n(.*?)```", README, re.S) if containing in b]
    assert len(blocks) == 1, f"README: {len(blocks)} shell blocks contain {containing!r}"
    return commands(blocks[0])


def sources_row(name: str) -> list[str]:
    """The ingest options of one row of the README's table of sources (its first code span)."""
    rows = [line for line in README.splitlines() if line.startswith(f"| {name}")]
    assert len(rows) == 1, f"README: {len(rows)} rows of the sources table start with {name!r}"
    match = re.search(r"`([^`]*)`", rows[0])
    assert match is not None, rows[0]
    return shlex.split(match.group(1))


def invoke(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, f"persona-mining {shlex.join(args)}\n{result.output}"
    return result.output


def warehouse(sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect("warehouse/persona.duckdb", read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder: the commands' default warehouse and files land there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_mapping_example_loads_a_kaggle_style_export(folder: Path) -> None:
    shutil.copy(KAGGLE, folder / "export.csv")
    (command,) = block('--tickets export.csv --map ticket_id="Ticket ID"')
    invoke(command)
    assert warehouse("SELECT count(*), count(body), min(created_at)::DATE::VARCHAR FROM tickets")[
        0
    ] == (KAGGLE_TICKETS, KAGGLE_TICKETS, "2020-01-03")


def test_the_kaggle_recipe_loads_every_ticket_with_its_customer(folder: Path) -> None:
    output = invoke(["ingest", "--tickets", str(KAGGLE), *sources_row('Kaggle "Customer Support')])
    assert f"new {KAGGLE_TICKETS}," in output and "rejected 0" in output
    assert warehouse("SELECT count(*), count(customer_id), count(subject) FROM tickets") == [
        (KAGGLE_TICKETS, KAGGLE_TICKETS, KAGGLE_TICKETS)
    ]


def test_the_twitter_recipe_keeps_customer_tweets_and_records_brand_replies(
    folder: Path,
) -> None:
    output = invoke(["ingest", "--tickets", str(TWITTER), *sources_row('"Customer Support on')])
    assert f"new {CUSTOMER_TWEETS}," in output
    assert warehouse("SELECT count(*), count(DISTINCT customer_id) FROM tickets")[0][0] == (
        CUSTOMER_TWEETS
    )
    assert warehouse("SELECT count(*) FROM ingest_rejects WHERE reason LIKE 'excluded%'") == [
        (TWEETS - CUSTOMER_TWEETS,)
    ]


def test_the_kaggle_and_twitter_recipes_share_a_warehouse_without_losing_a_ticket(
    folder: Path,
) -> None:
    invoke(["ingest", "--tickets", str(KAGGLE), *sources_row('Kaggle "Customer Support')])
    output = invoke(["ingest", "--tickets", str(TWITTER), *sources_row('"Customer Support on')])
    assert f"tickets (source twitter_tweets): read {TWEETS}, new {CUSTOMER_TWEETS}," in output
    assert warehouse("SELECT source, count(*) FROM tickets GROUP BY 1 ORDER BY 1") == [
        ("kaggle_tickets", KAGGLE_TICKETS),
        ("twitter_tweets", CUSTOMER_TWEETS),
    ]


def test_the_customers_from_the_ticket_file_recipe_keeps_one_customer_per_id(
    folder: Path,
) -> None:
    shutil.copy(KAGGLE, folder / "tickets.csv")
    (config,) = [b for b in re.findall(r"```toml\n(.*?)```", README, re.S) if "ticket_*" in b]
    (folder / "persona-mining.toml").write_text(config, encoding="utf-8")
    (command,) = block("--customers tickets.csv")
    output = invoke(command)
    assert "warning" not in output and "rejected 0" in output
    # The ticket's columns stay out of the customers, the customer's out of the tickets: the
    # customers keep attributes of their own to discover segments on.
    columns = {
        table: {r[0] for r in warehouse(f"SELECT column_name FROM (DESCRIBE {table})")}
        for table in ("customers", "tickets")
    }
    assert {"customer_age", "customer_gender"} <= columns["customers"] - columns["tickets"]
    assert not any(c.startswith("ticket_") for c in columns["customers"])
    assert warehouse("SELECT count(*), count(DISTINCT customer_id) FROM customers") == [
        (KAGGLE_CUSTOMERS, KAGGLE_CUSTOMERS)
    ]
    assert warehouse("SELECT count(*) FROM tickets t JOIN customers c USING (customer_id)") == [
        (KAGGLE_TICKETS,)
    ]


def own_data_commands() -> list[list[str]]:
    return block("persona-mining ingest --customers customers.csv --tickets tickets.csv")


@pytest.mark.slow
def test_the_own_data_recipe_runs_from_ingest_to_export(
    folder: Path, prefect_harness: None
) -> None:
    for name in ("customers.csv", "tickets.csv", "persona-mining.toml"):
        shutil.copy(OWN / name, folder / name)
    outputs = [invoke(command) for command in own_data_commands()]
    assert len(outputs) == 9, "the recipe's commands changed: update this test's checks"
    assert "warning" not in outputs[0]
    assert "Serial returner" in outputs[6]
    assert (folder / "report.html").stat().st_size > 0
    assert {p.name for p in (folder / "exports").iterdir()} >= {
        "issue_by_persona.parquet",
        "persona_profiles.parquet",
    }


def make_demo() -> list[str]:
    """What `make demo` runs, read out of the Makefile."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe is not None, "Makefile: no demo target"
    (command,) = commands(recipe.group(1))
    return command


@pytest.mark.slow
def test_make_demo_then_the_readmes_next_commands_work_without_a_config(
    folder: Path, prefect_harness: None
) -> None:
    # A smaller help desk than the default keeps the test short; everything else is as written.
    invoke([*make_demo(), "--customers", "300"])
    later = [c for c in own_data_commands() if c[0] != "ingest"]
    for command in later:
        # After the demo the warehouse remembers its setup: no --config is needed.
        without_config = [w for w in command if w not in ("--config", "persona-mining.toml")]
        output = invoke(without_config)
        if without_config[0] == "persona":
            assert "Serial returner" in output and "No findings" not in output


def test_the_zendesk_export_recipes_load_tickets_and_customers_without_contact_details(
    folder: Path,
) -> None:
    zendesk = Path(__file__).resolve().parent / "data" / "zendesk"
    shutil.copy(zendesk / "tickets_page1.json", folder / "export.json")
    shutil.copy(zendesk / "users.json", folder / "users.json")
    rows = [line for line in README.splitlines() if line.startswith("| Zendesk ")]
    recipes = [
        commands(span)[0]
        for row in rows
        for span in re.findall(r"`([^`]*)`", row)
        if span.startswith("persona-mining ")
    ]
    assert len(recipes) == 2 and {r[-2] for r in recipes} == {"--tickets", "--customers"}
    for recipe in sorted(recipes, key=lambda r: r[-2] != "--customers"):
        invoke(recipe)
    # The fixture's page holds one ticket with neither subject nor body: a reject with a reason.
    assert warehouse("SELECT count(*), count(customer_id) FROM tickets") == [(3, 2)]
    assert warehouse("SELECT reason FROM ingest_rejects") == [
        ("empty text: subject and body are both empty",)
    ]
    assert warehouse("SELECT count(*) FROM customers") == [(3,)]
    columns = {c for (c,) in warehouse("SELECT column_name FROM (DESCRIBE customers)")}
    assert not columns & {"name", "email", "phone"}, columns
