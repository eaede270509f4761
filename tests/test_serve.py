"""Scheduled runs: the deployments, prefect.yaml, and `persona-mining serve` on its own server."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from persona_mining import warehouse as db
from persona_mining.config import Config, ScheduleConfig, config_from_dict
from persona_mining.environment import use_offline_environment
from persona_mining.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
WATCH = ("--watch", "--watch-interval", "1", "--watch-timeout", "240")


def test_the_deployments_follow_the_schedule_of_the_config(tmp_path: Path) -> None:
    from flows.deployments import build_deployments

    config = config_from_dict(
        {
            "warehouse": {"path": "w.duckdb"},
            "schedule": {"nightly": "30 1 * * 1-5", "refit": "", "timezone": "Europe/Berlin"},
        }
    )
    (nightly,) = build_deployments(config)
    schedule = nightly.schedules[0].schedule
    assert nightly.name == "nightly" and nightly.entrypoint == "flows.pipeline.persona_pipeline"
    assert (schedule.cron, schedule.timezone) == ("30 1 * * 1-5", "Europe/Berlin")
    parameters = dict(nightly.parameters)
    carried = Config.model_validate(parameters.pop("config"))
    assert parameters == {"refit": False, "ingest": True, "auto_refit": False, "report": True}
    # The config itself travels, with paths made absolute for a run in another directory.
    assert carried.warehouse.path == Path("w.duckdb").resolve()
    assert carried.schedule == config.schedule.model_copy(
        update={"report": str(Path("report.html").resolve())}
    )
    with pytest.raises(ConfigError, match="nothing to serve"):
        build_deployments(config_from_dict({"schedule": {"nightly": "", "refit": ""}}))


def test_prefect_yaml_declares_the_same_deployments_with_a_work_pool() -> None:
    from flows.pipeline import persona_pipeline

    declared = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    defaults = ScheduleConfig()
    flow_parameters = set(persona_pipeline.parameters.properties)
    deployments = {d["name"]: d for d in declared["deployments"]}
    assert set(deployments) == {"nightly", "refit"}
    for name, refit in (("nightly", False), ("refit", True)):
        deployment = deployments[name]
        assert deployment["entrypoint"] == "flows/pipeline.py:persona_pipeline"
        assert deployment["work_pool"]["name"] == "persona-mining"
        assert deployment["schedules"] == [
            {"cron": getattr(defaults, name), "timezone": defaults.timezone, "active": True}
        ]
        assert set(deployment["parameters"]) <= flow_parameters
        assert deployment["parameters"]["refit"] is refit and deployment["parameters"]["ingest"]


def read_lines(stream, lines: queue.Queue[str]) -> None:  # type: ignore[no-untyped-def]
    for line in stream:
        lines.put(line)


def wait_for(lines: queue.Queue[str], text: str, *, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return line
    raise AssertionError(f"no {text!r} within {timeout}s; output:\n{''.join(seen)}")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the test session's Prefect settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    use_offline_environment(env)
    env.update(extra)
    return env


@pytest.mark.slow
def test_serve_starts_its_own_server_and_runs_the_nightly_deployment(
    demo_run: dict[str, object], tmp_path: Path
) -> None:
    from flows.server import is_healthy

    demo = demo_run["config"]
    warehouse = tmp_path / "persona.duckdb"
    shutil.copy(demo.warehouse.path, warehouse)  # type: ignore[attr-defined]
    new = tmp_path / "exports" / "tickets.csv"
    new.parent.mkdir()
    new.write_text(
        "ticket_id,customer_id,created_at,subject,body\n"
        "SERVE-1,,2026-04-02T09:00:00,App crash,The app crashes when I open my orders. Please fix it.\n"
        "SERVE-2,,2026-04-02T09:30:00,Refund,Where is the refund for the kettle I sent back?\n",
        encoding="utf-8",
    )
    config = tmp_path / "persona-mining.toml"
    config.write_text(
        demo_run["generated"].config_path.read_text(encoding="utf-8")  # type: ignore[attr-defined]
        + f'\n[warehouse]\npath = "{warehouse}"\n[models]\ndir = "{demo.models.dir}"\n'  # type: ignore[attr-defined]
        + f'[schedule]\nreport = "{tmp_path / "report.html"}"\n'
        + f'[[sources]]\nkind = "tickets"\npath = "{new}"\n',
        encoding="utf-8",
    )
    home = tmp_path / "prefect-home"
    serve = subprocess.Popen(
        [sys.executable, "-m", "persona_mining.cli", "serve", "--config", str(config)],
        cwd=tmp_path,
        env=clean_env(PREFECT_HOME=str(home)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=read_lines, args=(serve.stdout, lines), daemon=True).start()
    api_url = ""
    try:
        serving = wait_for(lines, "serving persona-pipeline/nightly", timeout=120)
        api_url = serving.split(" on ")[1].split()[0]
        assert api_url.startswith("http://127.0.0.1:") and is_healthy(api_url)
        assert (home / "prefect.db").exists()
        trigger = subprocess.run(
            [
                sys.executable,
                "-m",
                "prefect",
                "deployment",
                "run",
                "persona-pipeline/nightly",
                *WATCH,
            ],
            env=clean_env(PREFECT_API_URL=api_url, PREFECT_HOME=str(home)),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert trigger.returncode == 0 and "Completed" in trigger.stdout, trigger.stdout[-3000:]
        # prefect.yaml deploys the same deployments to a work pool on that server.
        for command in (
            ["work-pool", "create", "persona-mining", "--type", "process"],
            ["deploy", "--all"],
        ):
            done = subprocess.run(
                [sys.executable, "-m", "prefect", "--no-prompt", *command],
                cwd=ROOT,
                env=clean_env(
                    PREFECT_API_URL=api_url, PREFECT_HOME=str(home), PERSONA_MINING_HOME=str(ROOT)
                ),
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
    assert serve.returncode == 0
    assert api_url and not is_healthy(api_url, timeout=1.0)  # the server stopped with serve

    con = db.connect(warehouse, read_only=True)
    try:
        run = con.execute(
            "SELECT deployment, kind, status, stages FROM pipeline_runs ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
        assigned = con.execute(
            "SELECT count(*) FROM v_ticket_topics WHERE ticket_id LIKE 'SERVE-%'"
        ).fetchone()
    finally:
        con.close()
    assert run is not None and run[:3] == ("persona-pipeline/nightly", "incremental", "completed")
    assert f'"ingest tickets {new}"' in run[3] and assigned == (2,)
    assert (tmp_path / "report.html").exists()
