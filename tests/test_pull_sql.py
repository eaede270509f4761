"""Pulling tickets and customers from a real PostgreSQL, incrementally on a cursor column."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa

from persona_mining.config import Config, config_from_dict
from persona_mining.errors import ConfigError, SourceAuthError, SourceError
from persona_mining.ingest.sources import ingest_source
from persona_mining.pipeline import run_pipeline
from tests.postgres_cluster import PASSWORD, Cluster, postgres_cluster, server_bin

pytestmark = pytest.mark.skipif(
    server_bin() is None,
    reason="no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql",
)

TICKETS = [
    (
        1,
        "c1",
        "2026-01-01 09:00+00",
        "2026-01-01 09:00+00",
        "Refund",
        "I want my money back",
        "high",
    ),
    (2, "c2", "2026-01-02 09:00+00", "2026-01-02 09:00+00", "Login", "Cannot log in", "low"),
    (
        3,
        None,
        "2026-01-03 09:00+00",
        "2026-01-03 09:00+00",
        "Shipping",
        "Where is my parcel?",
        "low",
    ),
    (4, "c1", "2026-01-03 09:00+00", "2026-01-03 09:00+00", "", "", "low"),
    (5, "c3", "2026-01-04 09:00+00", "2026-01-04 09:00+00", "Crash", "The app crashes", "high"),
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with postgres_cluster() as running:
        yield running


@pytest.fixture
def database(cluster: Cluster) -> Iterator[sa.Engine]:
    """A fresh `support` schema with a tickets table and an accounts table."""
    engine = sa.create_engine(cluster.url())
    with engine.begin() as db:
        db.execute(sa.text("DROP SCHEMA IF EXISTS support CASCADE"))
        db.execute(sa.text("CREATE SCHEMA support"))
        db.execute(
            sa.text(
                """CREATE TABLE support.tickets (id integer PRIMARY KEY, customer text,
                opened timestamptz NOT NULL, updated_at timestamptz NOT NULL, subject text,
                body text, priority text)"""
            )
        )
        db.execute(
            sa.text("INSERT INTO support.tickets VALUES (:i, :c, :o, :u, :s, :b, :p)"),
            [dict(zip("icousbp", row, strict=True)) for row in TICKETS],
        )
        db.execute(
            sa.text(
                """CREATE TABLE support.accounts (account text, plan text, seats integer,
                email text, changed bigint)"""
            )
        )
        db.execute(
            sa.text(
                """INSERT INTO support.accounts VALUES ('c1', 'pro', 12, 'a@x.test', 1),
                ('c2', 'free', 1, 'b@x.test', 2), ('c3', 'pro', 40, 'c@x.test', 3),
                ('staff', 'internal', 0, 's@x.test', 4)"""
            )
        )
    yield engine
    engine.dispose()


def tickets_source(**extra: Any) -> Config:
    source = {
        "type": "sql",
        "kind": "tickets",
        "url_env": "SUPPORT_DB_URL",
        "table": "support.tickets",
        "cursor": "updated_at",
        "columns": {"ticket_id": "id", "customer_id": "customer", "created_at": "opened"},
        "page_size": 2,
        **extra,
    }
    return config_from_dict({"sources": [source]})


def env(cluster: Cluster, password: str = PASSWORD) -> dict[str, str]:
    return {"SUPPORT_DB_URL": cluster.url(password)}


def everything(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[object, ...]]]:
    return {
        table: con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
        for table in ("tickets", "customers", "ingest_rejects", "source_cursors")
    }


def test_a_table_is_pulled_in_batches_with_its_columns_mapped(
    con: duckdb.DuckDBPyConnection, cluster: Cluster, database: sa.Engine
) -> None:
    source = tickets_source().sources[0]
    result = ingest_source(con, source=source, environ=env(cluster))
    assert (result.read, result.new, result.rejected) == (5, 4, 1)
    assert con.execute(
        "SELECT ticket_id, customer_id, created_at::VARCHAR, priority, source FROM tickets ORDER BY 1"
    ).fetchall() == [
        ("1", "c1", "2026-01-01 09:00:00", "high", "sql:support.tickets"),
        ("2", "c2", "2026-01-02 09:00:00", "low", "sql:support.tickets"),
        ("3", None, "2026-01-03 09:00:00", "low", "sql:support.tickets"),
        ("5", "c3", "2026-01-04 09:00:00", "high", "sql:support.tickets"),
    ]
    assert con.execute("SELECT row_number, reason FROM ingest_rejects").fetchall() == [
        (4, "empty text: subject and body are both empty")
    ]
    assert con.execute("SELECT cursor, pages, records FROM source_cursors").fetchall() == [
        ('{"datetime": "2026-01-04T09:00:00+00:00"}', 3, 5)
    ]


def test_pulling_twice_changes_nothing_and_then_only_changed_rows_are_read(
    con: duckdb.DuckDBPyConnection, cluster: Cluster, database: sa.Engine
) -> None:
    config = tickets_source()
    run_pipeline(con, config, only=["ingest"], environ=env(cluster))
    before = everything(con)
    (again,) = run_pipeline(con, config, only=["ingest"], environ=env(cluster)).values()
    after = everything(con)
    # only the row at the stored cursor is read again, and found unchanged
    assert (again.read, again.new, again.updated, again.unchanged) == (1, 0, 0, 1)
    assert {k: v for k, v in before.items() if k != "source_cursors"} == {
        k: v for k, v in after.items() if k != "source_cursors"
    }
    with database.begin() as db:
        db.execute(
            sa.text(
                "UPDATE support.tickets SET body = 'Still cannot log in', "
                "updated_at = '2026-01-05 10:00+00' WHERE id = 2"
            )
        )
        db.execute(
            sa.text(
                "INSERT INTO support.tickets VALUES (6, 'c2', '2026-01-05 11:00+00', "
                "'2026-01-05 11:00+00', 'Invoice', 'Wrong VAT on my invoice', 'low')"
            )
        )
    (newer,) = run_pipeline(con, config, only=["ingest"], environ=env(cluster)).values()
    assert (newer.read, newer.new, newer.updated, newer.unchanged) == (3, 1, 1, 1)
    assert con.execute("SELECT body FROM tickets WHERE ticket_id = '2'").fetchall() == [
        ("Still cannot log in",)
    ]


def test_customers_come_from_a_query_on_an_integer_cursor(
    con: duckdb.DuckDBPyConnection, cluster: Cluster, database: sa.Engine
) -> None:
    source = config_from_dict(
        {
            "sources": [
                {
                    "type": "sql",
                    "kind": "customers",
                    "url_env": "SUPPORT_DB_URL",
                    "query": "SELECT account, plan, seats, changed FROM support.accounts "
                    "WHERE plan <> 'internal'",
                    "cursor": "changed",
                    "columns": {"customer_id": "account"},
                }
            ]
        }
    ).sources[0]
    result = ingest_source(con, source=source, environ=env(cluster))
    assert result.new == 3
    assert con.execute("SELECT customer_id, plan, seats FROM customers ORDER BY 1").fetchall() == [
        ("c1", "pro", 12),
        ("c2", "free", 1),
        ("c3", "pro", 40),
    ]
    assert con.execute("SELECT cursor FROM source_cursors").fetchall() == [('{"value": 3}',)]


def test_a_wrong_password_fails_at_once_naming_the_source_and_never_the_password(
    con: duckdb.DuckDBPyConnection, cluster: Cluster, database: sa.Engine
) -> None:
    source = tickets_source().sources[0]
    with pytest.raises(SourceAuthError) as caught:
        ingest_source(con, source=source, environ=env(cluster, password="Wrong-pw-55"))
    message = str(caught.value)
    assert "sql:support.tickets" in message and "SUPPORT_DB_URL" in message
    assert "Wrong-pw-55" not in message and cluster.url("Wrong-pw-55") not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_missing_table_is_a_config_error_and_an_unreachable_database_a_source_error(
    con: duckdb.DuckDBPyConnection, cluster: Cluster, database: sa.Engine
) -> None:
    missing = tickets_source(table="support.nothing").sources[0]
    with pytest.raises(ConfigError, match=r"table 'support\.nothing'") as caught:
        ingest_source(con, source=missing, environ=env(cluster))
    assert PASSWORD not in str(caught.value)
    unreachable = {"SUPPORT_DB_URL": cluster.url().replace(f"port={cluster.port}", "port=1")}
    with pytest.raises(SourceError, match=r"sql:support\.tickets") as caught_unreachable:
        ingest_source(con, source=tickets_source().sources[0], environ=unreachable)
    assert PASSWORD not in str(caught_unreachable.value)
    assert not isinstance(caught_unreachable.value, ConfigError)  # worth retrying


def test_the_cli_pull_records_its_run_and_never_the_database_password(
    cluster: Cluster, database: sa.Engine, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from persona_mining.cli import app
    from tests.conftest import write
    from tests.test_source_secrets import warehouse_text

    config = write(
        tmp_path / "c.toml",
        '[[sources]]\ntype = "sql"\nkind = "tickets"\nurl_env = "SUPPORT_DB_URL"\n'
        'table = "support.tickets"\ncursor = "updated_at"\n[sources.columns]\n'
        'ticket_id = "id"\ncustomer_id = "customer"\ncreated_at = "opened"\n',
    )
    args = ["ingest", "--sources", "--config", str(config), "--db", str(tmp_path / "w.duckdb")]
    runner = CliRunner()
    bad = runner.invoke(app, args, env=env(cluster, password="Wrong-pw-55"))
    good = runner.invoke(app, args, env=env(cluster))
    assert bad.exit_code == 2 and "sql:support.tickets" in bad.output, bad.output
    assert good.exit_code == 0 and "tickets: read 5, new 4" in good.output, good.output
    stored = warehouse_text(tmp_path / "w.duckdb")
    assert "refused the credentials" in stored and "SUPPORT_DB_URL" in stored
    for text in (bad.output, good.output, stored):
        assert PASSWORD not in text and "Wrong-pw-55" not in text
    # status says how far the pulled source has been read, under its name
    status = runner.invoke(app, ["status", "--db", str(tmp_path / "w.duckdb"), "--format", "json"])
    state = json.loads(status.output)
    assert [(c["source"], c["stream"], c["records"]) for c in state["cursors"]] == [
        ("sql:support.tickets", "tickets", 5)
    ]
    assert [w["ticket_source"] for w in state["watermarks"]] == ["sql:support.tickets"]
