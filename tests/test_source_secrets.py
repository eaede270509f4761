"""Tokens and passwords of pulled sources never reach the warehouse, the logs, the run records,
the Prefect artifacts or the error messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from persona_mining import warehouse as db
from persona_mining.cli import app
from tests.conftest import write
from tests.zendesk_server import EMAIL, TOKEN, ZendeskDouble, ticket, user, zendesk_server

runner = CliRunner()
WRONG = "wrong-token-zz91"


def warehouse_text(path: Path) -> str:
    """Every value of every table of the warehouse, as one text."""
    con = db.connect(path, read_only=True)
    try:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return "\n".join(
            str(con.execute(f'SELECT * FROM "{table}"').fetchall()) for table in tables
        )
    finally:
        con.close()


def account() -> ZendeskDouble:
    return ZendeskDouble(
        pages={
            "users": [[user(500, "2026-01-01T10:00:00Z", "pro")]],
            "tickets": [[ticket(1, "2026-01-03T10:00:00Z"), ticket(2, "2026-01-03T11:00:00Z")]],
        }
    )


def config_file(tmp_path: Path, url: str) -> Path:
    return write(
        tmp_path / "c.toml",
        f'[[sources]]\ntype = "zendesk"\nurl = "{url}"\nemail = "{EMAIL}"\n'
        'token_env = "ZENDESK_API_TOKEN"\nstart = "2026-01-01"\n',
    )


def test_the_cli_pulls_the_sources_records_the_run_and_keeps_the_token_out(
    tmp_path: Path,
) -> None:
    warehouse = tmp_path / "w.duckdb"
    with zendesk_server(account()) as server:
        config = config_file(tmp_path, server.url)
        args = ["ingest", "--sources", "--config", str(config), "--db", str(warehouse)]
        good = runner.invoke(app, args, env={"ZENDESK_API_TOKEN": TOKEN})
        bad = runner.invoke(app, args, env={"ZENDESK_API_TOKEN": WRONG})
        unset = runner.invoke(app, args, env={"ZENDESK_API_TOKEN": ""})
    assert good.exit_code == 0, good.output
    assert "tickets: read 2, new 2" in good.output and "customers: read 1, new 1" in good.output
    assert bad.exit_code == 2 and "refused the credentials" in bad.output
    assert f"zendesk:{server.url.removeprefix('http://')}" in bad.output
    assert unset.exit_code == 2 and "ZENDESK_API_TOKEN is not set" in unset.output
    for output in (good.output, bad.output):
        assert TOKEN not in output and WRONG not in output
    con = db.connect(warehouse, read_only=True)
    runs = con.execute(
        "SELECT kind, status, failed_stage FROM pipeline_runs ORDER BY started_at"
    ).fetchall()
    con.close()
    assert runs[0] == ("ingest", "completed", None)
    assert runs[1][1:] == (
        "failed",
        f"ingest customers zendesk:{server.url.removeprefix('http://')}",
    )
    stored = warehouse_text(warehouse)
    assert "ZENDESK_API_TOKEN" in stored  # the config names the variable...
    assert TOKEN not in stored and WRONG not in stored  # ...never its value


def test_a_token_pasted_where_its_variable_name_belongs_is_not_repeated(tmp_path: Path) -> None:
    config = write(
        tmp_path / "c.toml",
        '[[sources]]\ntype = "zendesk"\nurl = "https://acme.zendesk.com"\nemail = "a@b.c"\n'
        f'token_env = "{TOKEN}-with spaces"\nstart = "2026-01-01"\n',
    )
    result = runner.invoke(
        app, ["ingest", "--sources", "--config", str(config), "--db", str(tmp_path / "w.duckdb")]
    )
    assert result.exit_code == 2 and "NAME of an environment variable" in result.output
    assert TOKEN not in result.output


def test_a_scheduled_run_keeps_the_token_out_of_logs_run_records_and_artifacts(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    from flows.pipeline import run_stages
    from persona_mining.config import load_config

    with zendesk_server(account()) as server:
        config = load_config(config_file(tmp_path, server.url), db=tmp_path / "w.duckdb")

        @flow(name="ingest-secrets-test")
        def wrapper() -> dict[str, object]:
            return run_stages(config, ingest=True, only=["ingest"])

        monkeypatch.setenv("ZENDESK_API_TOKEN", TOKEN)
        good = wrapper(return_state=True)
        monkeypatch.setenv("ZENDESK_API_TOKEN", WRONG)
        bad = wrapper(return_state=True)
    assert good.is_completed() and bad.is_failed()
    with pytest.raises(Exception) as caught:
        bad.result()
    assert "refused the credentials" in str(caught.value) and WRONG not in str(caught.value)
    ids = [good.state_details.flow_run_id, bad.state_details.flow_run_id]
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)))  # type: ignore[arg-type]
        artifacts = client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids))
        )  # type: ignore[arg-type]
        runs = [client.read_flow_run(i) for i in ids]  # type: ignore[arg-type]
    text = "\n".join(
        [log.message for log in logs]
        + [str(a.data) for a in artifacts]
        + [str(r.parameters) + str(r.state) for r in runs]
    )
    assert "ingest tickets zendesk" in text and artifacts
    assert TOKEN not in text and WRONG not in text
    stored = warehouse_text(tmp_path / "w.duckdb")
    assert "refused the credentials" in stored and TOKEN not in stored and WRONG not in stored
