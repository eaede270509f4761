"""Dependable runs: run records, changes since the last run, status, retries, busy waits, failures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from persona_mining import warehouse as db
from persona_mining.cli import app
from persona_mining.config import config_from_dict
from persona_mining.errors import ConfigError, StageFailedError, WarehouseBusyError
from persona_mining.run_history import finish_run, run_markdown, start_run
from tests.conftest import write

runner = CliRunner()


def small_issue_table(con: duckdb.DuckDBPyConnection) -> None:
    """One model, two topics, one persona: the least an issue-by-persona table needs."""
    con.execute(
        """INSERT INTO topic_models (model_id, created_at, path, embedding_model, n_tickets,
            n_topics, params) VALUES ('m1', now()::TIMESTAMP, '/nowhere', 'all-MiniLM-L6-v2', 40, 2, '{}')"""
    )
    con.execute(
        """INSERT INTO topics (model_id, topic_id, label, keywords, size, topic_key) VALUES
        ('m1', 0, 'Refund', ['refund'], 20, 'T0001'), ('m1', 1, 'Login', ['login'], 20, 'T0002')"""
    )
    con.execute("INSERT INTO segments VALUES ('s1', 'Students', 'rule', '', 'true')")
    con.execute(
        """INSERT INTO issue_by_persona (segment_id, model_id, topic_id, tickets, customers,
            segment_tickets, segment_customers, share, lift, q_value, significant) VALUES
        ('s1', 'm1', 0, 10, 8, 20, 10, 0.5, 2.0, 0.001, true),
        ('s1', 'm1', 1, 10, 8, 20, 10, 0.5, 1.0, 0.9, false)"""
    )


def test_a_run_records_its_stages_and_reports_what_changed_since_the_last_one(
    con: duckdb.DuckDBPyConnection,
) -> None:
    small_issue_table(con)
    first = start_run(con, kind="incremental", deployment="persona-pipeline/nightly")
    outcome = finish_run(con, run_id=first, stages={"prepare": {"prepared": 3, "seconds": 0.5}})
    assert outcome.previous_run_id is None and outcome.cells == 2
    assert outcome.run.status == "completed" and outcome.run.stages["prepare"]["prepared"] == 3
    assert "nothing to compare" in run_markdown(outcome)

    con.execute("UPDATE issue_by_persona SET tickets = 12 WHERE topic_id = 0")
    con.execute(
        "UPDATE issue_by_persona SET tickets = 15, lift = 1.8, significant = true WHERE topic_id = 1"
    )
    second = start_run(con, kind="refit")
    outcome = finish_run(con, run_id=second, stages={})
    assert outcome.previous_run_id == first
    assert [(c.issue, c.change) for c in outcome.changes] == [
        ("Login", "new finding"),
        ("Refund", "more tickets"),
    ]
    markdown = run_markdown(outcome)
    assert "| Students | Login | new finding | 10 → 15 | 1.00 → 1.80 | no → yes |" in markdown


def test_a_run_left_running_by_a_dead_process_is_marked_interrupted(
    con: duckdb.DuckDBPyConnection,
) -> None:
    dead = start_run(con, kind="incremental")
    start_run(con, kind="incremental")
    status, error = con.execute(
        "SELECT status, error FROM pipeline_runs WHERE run_id = ?", [dead]
    ).fetchone()  # type: ignore[misc]
    assert status == "interrupted" and "stopped before the run finished" in error


def test_status_shows_runs_model_watermarks_and_whether_a_refit_is_due(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = db.connect(path)
    small_issue_table(con)
    con.execute(
        "INSERT INTO ingest_watermarks (source, watermark, updated_at, ticket_source) "
        "VALUES ('tickets:/exports/t.csv', '2026-03-01 10:00:00', now(), 'helpdesk')"
    )
    run_id = start_run(con, kind="incremental", deployment="persona-pipeline/nightly")
    finish_run(
        con,
        run_id=run_id,
        stages={
            "ingest tickets /exports/t.csv": {"new": 4, "updated": 1, "seconds": 0.1},
            "prepare": {"prepared": 5, "seconds": 1.0},
            "topics": {"tickets": 5, "refit": False, "seconds": 0.2},
        },
    )
    con.close()
    result = runner.invoke(app, ["status", "--db", str(path)])
    assert result.exit_code == 0, result.output
    for expected in (
        "topic model: m1",
        "refit due: no",
        "nightly incremental",
        "completed",
        "5 ingested",
        "2026-03-01 10:00:00",
    ):
        assert expected in result.output, expected
    watermark = next(line for line in result.output.splitlines() if "2026-03-01" in line)
    assert "helpdesk" in watermark and "/exports/t.csv" in watermark, result.output
    assert "tickets:" not in watermark  # the source by its name, the file by its path
    data = json.loads(runner.invoke(app, ["status", "--db", str(path), "--format", "json"]).output)
    assert data["busy"] is False and data["refit_due"] is None
    assert data["runs"][0]["deployment"] == "persona-pipeline/nightly"
    # The smallest topic the model allowed, and whether it was cut below its first size.
    assert "minimum size" not in result.output  # a model that did not record it
    # A run started as incremental that fitted a model (the first fit, a due refit) was a refit.
    con = db.connect(path)
    fitted = start_run(con, kind="incremental")
    finish_run(con, run_id=fitted, stages={"topics": {"tickets": 5, "refit": True}})
    ((kind,),) = con.execute("SELECT kind FROM pipeline_runs WHERE run_id = ?", [fitted]).fetchall()
    con.close()
    assert kind == "refit"
    # A run killed mid-way is `running` in the table until the next run starts; nobody writes
    # to the file, so `status` says what happened to it.
    con = db.connect(path)
    start_run(con, kind="incremental")
    con.close()
    data = json.loads(runner.invoke(app, ["status", "--db", str(path), "--format", "json"]).output)
    assert data["runs"][0]["status"] == "interrupted" and "stopped" in data["runs"][0]["error"]
    con = db.connect(path)
    con.execute(
        """UPDATE topic_models SET params =
        '{"min_topic_size_used": 21, "theme_topic_size_used": 42}'"""
    )
    con.close()
    output = runner.invoke(app, ["status", "--db", str(path)]).output
    assert "2 topics, minimum size 21 tickets (from 42: many small issues left out" in output, (
        output
    )


def hold_warehouse(path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process writing to the warehouse for a while."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(path)!r}); print('ok', flush=True); "
            f"time.sleep({seconds}); c.close()",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
    return holder


def test_a_second_writer_waits_for_the_first_and_is_told_why(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    db.connect(path).close()
    holder = hold_warehouse(path, 1.5)
    messages: list[str] = []
    try:
        con = db.connect_when_free(
            path, timeout_seconds=30, notify=messages.append, poll_seconds=0.2
        )
        con.close()
    finally:
        holder.wait()
    assert messages and "another persona-mining process is writing" in messages[0]


def test_a_writer_that_waited_too_long_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    db.connect(path).close()
    holder = hold_warehouse(path, 30)
    try:
        with pytest.raises(WarehouseBusyError, match=r"still busy after waiting .*busy_timeout"):
            db.connect_when_free(path, timeout_seconds=0.5, poll_seconds=0.1)
        result = runner.invoke(app, ["status", "--db", str(path)])
        assert result.exit_code == 0 and "writing to it right now" in result.output
    finally:
        holder.kill()
        holder.wait()


def test_a_command_that_writes_waits_for_the_recorded_setup_of_a_busy_warehouse(
    tmp_path: Path,
) -> None:
    """A run started while another writes took the defaults, and dropped the desk's personas
    (a scheduled run, `serve`): it now waits for the setup the warehouse recorded."""
    from persona_mining.config.recorded import record_setup, resolve_config

    path = tmp_path / "w.duckdb"
    setup = config_from_dict(
        {"profile": "fast", "personas": [{"name": "Parents", "where": "kids > 0"}]}
    )
    con = db.connect(path)
    record_setup(con, setup)
    con.close()
    holder = hold_warehouse(path, 1.5)
    try:
        # One that only reads takes the defaults at once.
        assert resolve_config(None, db=path, cwd=tmp_path).personas == ()
        waited: list[str] = []
        config = resolve_config(None, db=path, cwd=tmp_path, wait_seconds=30, notify=waited.append)
    finally:
        holder.wait()
    assert config.profile == "fast" and [p.name for p in config.personas] == ["Parents"]
    assert waited and "another persona-mining process is writing" in waited[0]
    holder = hold_warehouse(path, 30)
    try:
        with pytest.raises(WarehouseBusyError, match="still busy"):
            resolve_config(None, db=path, cwd=tmp_path, wait_seconds=0.5)
    finally:
        holder.kill()
        holder.wait()


def test_sources_and_schedule_are_read_with_the_ingest_settings_as_defaults() -> None:
    config = config_from_dict(
        {
            "ingest": {"columns": {"ticket_id": "Ticket ID"}, "where": "inbound = 'True'"},
            "schedule": {
                "nightly": "30 1 * * *",
                "timezone": "Europe/Berlin",
                "retry_delays": [5, 30],
            },
            "sources": [
                {"kind": "tickets", "path": "exports/t", "columns": {"body": "Text"}},
                {"kind": "customers", "path": "exports/c.csv"},
            ],
        }
    )
    tickets, customers = config.sources
    assert tickets.columns == {"ticket_id": "Ticket ID", "body": "Text"}
    assert tickets.where == "inbound = 'True'" and customers.where == ""
    assert config.schedule.retry_delays == (5.0, 30.0) and config.schedule.refit == "0 3 * * 0"
    for bad, message in (
        ({"schedule": {"nightly": "every night"}}, "not a cron expression"),
        ({"schedule": {"timezone": "Mars/Olympus"}}, "not an IANA time zone"),
        ({"sources": [{"kind": "orders", "path": "x"}]}, "kind = 'orders'"),
        (
            {"sources": [{"kind": "customers", "path": "x", "where": "a = 1"}]},
            "ticket sources only",
        ),
        ({"sources": [{"kind": "tickets", "path": "x", "sheet": 1}]}, "unknown key"),
        ({"scale": {"executor": "ray"}}, 'use "local" or "dask"'),
    ):
        with pytest.raises(ConfigError, match=message):
            config_from_dict(bad)


def ingest_in_a_flow(config_toml: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Run only the scheduled ingest part of the flow; return its final state."""
    from prefect import flow

    from flows.pipeline import run_stages
    from persona_mining.config import load_config

    config = load_config(write(tmp_path / "c.toml", config_toml), db=tmp_path / "w.duckdb")

    @flow(name="ingest-test")
    def wrapper() -> dict[str, object]:
        return run_stages(config, ingest=True, only=["ingest"])

    return wrapper(return_state=True)


def task_run_counts(flow_run_id: object) -> dict[str, int]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))  # type: ignore[list-item]
        )
    return {r.name.rsplit("-", 1)[0]: r.run_count for r in runs}


def test_ingest_from_a_source_retries_until_the_export_arrives(
    prefect_harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import persona_mining.ingest.sources

    export = tmp_path / "exports" / "tickets.csv"
    real = persona_mining.ingest.sources.ingest_tickets
    attempts: list[bool] = []

    def export_lands_during_the_first_attempt(con: duckdb.DuckDBPyConnection, **options: object):  # type: ignore[no-untyped-def]
        attempts.append(export.exists())
        try:
            return real(con, **options)  # type: ignore[arg-type]
        finally:
            if not export.exists():
                export.parent.mkdir()
                write(export, "ticket_id,created_at,body\nT1,2026-01-01,The app crashes\n")

    monkeypatch.setattr(
        persona_mining.ingest.sources, "ingest_tickets", export_lands_during_the_first_attempt
    )
    state = ingest_in_a_flow(
        f'[schedule]\nretries = 3\nretry_delays = [0.5]\n[[sources]]\nkind = "tickets"\npath = "{export}"\n',
        tmp_path,
    )
    assert state.is_completed(), state
    assert attempts == [False, True]
    assert task_run_counts(state.state_details.flow_run_id)["ingest-tickets"] == 2
    con = db.connect(tmp_path / "w.duckdb", read_only=True)
    assert con.execute("SELECT ticket_id FROM tickets").fetchall() == [("T1",)]
    stages = json.loads(con.execute("SELECT stages FROM pipeline_runs").fetchone()[0])  # type: ignore[index]
    con.close()
    assert stages[f"ingest tickets {export}"]["new"] == 1


def test_a_source_with_wrong_settings_fails_at_once_naming_the_stage(
    prefect_harness: None, tmp_path: Path
) -> None:
    started = time.monotonic()
    state = ingest_in_a_flow(
        f'[schedule]\nretries = 3\nretry_delays = [30]\n[[sources]]\nkind = "tickets"\npath = "{tmp_path}"\npreset = "freshdesk"\n',
        tmp_path,
    )
    assert state.is_failed() and time.monotonic() - started < 25
    assert task_run_counts(state.state_details.flow_run_id)["ingest-tickets"] == 1
    with pytest.raises(StageFailedError, match=r"stage 'ingest tickets .*' failed: ingest preset"):
        state.result()
    con = db.connect(tmp_path / "w.duckdb", read_only=True)
    status, stage = con.execute("SELECT status, failed_stage FROM pipeline_runs").fetchone()  # type: ignore[misc]
    con.close()
    assert status == "failed" and stage.startswith("ingest tickets")


@pytest.mark.slow
def test_a_failing_stage_fails_the_run_names_it_and_leaves_its_tables_as_they_were(
    demo_run: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    import persona_mining.personas.link
    from flows.pipeline import run_stages
    from persona_mining.config import WarehouseConfig

    copy = tmp_path / "copy.duckdb"
    shutil.copy(demo_run["config"].warehouse.path, copy)  # type: ignore[attr-defined]
    config = demo_run["config"].model_copy(update={"warehouse": WarehouseConfig(path=copy)})  # type: ignore[attr-defined]
    con = db.connect(copy)
    # Make the last run's snapshot differ, so that this run has changes to report.
    persona, issue = con.execute(
        """UPDATE issue_snapshots SET significant = NOT significant, tickets = tickets - 3
        WHERE (segment_id, topic_key) IN (SELECT segment_id, topic_key FROM issue_snapshots
            ORDER BY significant DESC, lift DESC LIMIT 1)
        RETURNING persona, issue"""
    ).fetchone()  # type: ignore[misc]
    con.close()

    @flow(name="persona-pipeline-test")
    def pipeline() -> dict[str, object]:
        return run_stages(config)

    assert pipeline(return_state=True).is_completed()
    with get_client(sync_client=True) as client:
        artifact = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["persona-pipeline-summary"])
            ),
            limit=1,
            sort="CREATED_DESC",  # type: ignore[arg-type]
        )[0]
    assert "## Top changes" in str(artifact.data) and f"| {persona} | {issue} |" in str(
        artifact.data
    )

    con = db.connect(copy, read_only=True)
    before = con.execute("SELECT * FROM issue_by_persona ORDER BY ALL").fetchall()
    con.close()
    replace = persona_mining.personas.link._replace
    calls: list[str] = []

    def fail_after_deleting(con: duckdb.DuckDBPyConnection, table: str, *args: object) -> None:
        replace(con, table, *args)  # type: ignore[arg-type]
        calls.append(table)
        if len(calls) == 2:
            raise OSError("disk full")

    monkeypatch.setattr(persona_mining.personas.link, "_replace", fail_after_deleting)
    state = pipeline(return_state=True)
    assert state.is_failed() and "stage 'link' failed" in str(state.message)
    con = db.connect(copy, read_only=True)
    assert con.execute("SELECT * FROM issue_by_persona ORDER BY ALL").fetchall() == before
    status, stage, error, stages = con.execute(
        "SELECT status, failed_stage, error, stages FROM pipeline_runs ORDER BY started_at DESC LIMIT 1"
    ).fetchone()  # type: ignore[misc]
    con.close()
    assert (status, stage) == ("failed", "link") and "disk full" in error
    assert "segments" in json.loads(stages) and "link" not in json.loads(stages)
