"""Crash safety: a run killed at any point, then re-run, gives the warehouse of a clean run.

Real subprocesses running the real CLI are killed with SIGKILL: during ingest, during the
early stages of the flow, and while the topic model is being fitted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from persona_mining import warehouse as db

pytestmark = pytest.mark.slow
CUSTOMERS = 150


def snapshot(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """What must be identical: raw rows, derived rows (ids and timestamps aside)."""
    con = db.connect(path, read_only=True)
    try:
        queries = {
            "tickets": "SELECT ticket_id, customer_id, created_at, subject, body, raw_hash FROM tickets",
            "customers": "SELECT * EXCLUDE (ingested_at, source) FROM customers",
            "rejects": "SELECT row_number, reason FROM ingest_rejects",
            "prepared": "SELECT ticket_id, text, language, in_scope FROM prepared_tickets",
            "questions": "SELECT ticket_id, position, question FROM ticket_questions",
            "embeddings": "SELECT text_hash, model FROM embeddings",
            "models": "SELECT n_tickets, n_topics FROM topic_models",
            "topics": "SELECT topic_id, label, size FROM v_topics",
            "assignments": "SELECT ticket_id, topic_id FROM v_ticket_topics",
            "segments": "SELECT segment_id, customer_id FROM customer_segments",
            "links": "SELECT persona, topic_id, tickets, customers, significant FROM v_issue_by_persona",
        }
        return {
            name: sorted(con.execute(sql).fetchall(), key=repr) for name, sql in queries.items()
        }
    finally:
        con.close()


def cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    # Its own process group: a kill takes the temporary Prefect server with it, as a crash would.
    return subprocess.Popen(
        [sys.executable, "-m", "persona_mining.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )


def kill_when(process: subprocess.Popen[str], marker: str | None, delay: float) -> str:
    """SIGKILL the process `delay` seconds after `marker` appears in its output."""
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if marker is None or marker in line:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if marker is None:
        seen.set()
    seen.wait(timeout=240)
    time.sleep(delay)
    if process.poll() is None:
        # If it finished in the meantime, the rerun must give the same warehouse all the same.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    reader.join(timeout=5)
    return "".join(lines)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    from persona_mining.demo.generate import generate_demo

    root = tmp_path_factory.mktemp("crash")
    generated = generate_demo(root / "data", seed=5, n_customers=CUSTOMERS)
    env = {
        **os.environ,
        "PREFECT_HOME": str(root / "prefect"),
        "PREFECT_API_URL": "",
        "PYTHONUNBUFFERED": "1",
    }

    def config(name: str) -> Path:
        path = root / f"{name}.toml"
        path.write_text(
            generated.config_path.read_text(encoding="utf-8")
            + f'\n[warehouse]\npath = "{root / name}.duckdb"\n[models]\ndir = "{root / name}-models"\n',
            encoding="utf-8",
        )
        return path

    return {"root": root, "generated": generated, "env": env, "config": config}


def test_killed_runs_then_a_rerun_equal_an_uninterrupted_run(setup: dict[str, object]) -> None:
    generated, env, config = setup["generated"], setup["env"], setup["config"]
    ingest_args = [
        "ingest",
        "--customers", str(generated.customers_path),  # type: ignore[attr-defined]
        "--tickets", str(generated.tickets_path),  # type: ignore[attr-defined]
    ]  # fmt: skip
    clean, crashed = config("clean"), config("crashed")  # type: ignore[operator]

    for args in (ingest_args, ["run"]):
        done = cli(*args, "--config", str(clean), env=env)  # type: ignore[arg-type]
        output = done.communicate(timeout=600)[0]
        assert done.returncode == 0, output

    # Killed during ingest, then twice during the flow: early on, and while fitting topics.
    kill_when(cli(*ingest_args, "--config", str(crashed), env=env), None, 4.0)  # type: ignore[arg-type]
    rerun = cli(*ingest_args, "--config", str(crashed), env=env)  # type: ignore[arg-type]
    assert rerun.wait(timeout=600) == 0
    kill_when(cli("run", "--config", str(crashed), env=env), "Beginning flow run", 3.0)  # type: ignore[arg-type]
    kill_when(cli("run", "--config", str(crashed), env=env), "Task run 'embed", 2.0)  # type: ignore[arg-type]
    final = cli("run", "--config", str(crashed), env=env)  # type: ignore[arg-type]
    output = final.communicate(timeout=600)[0]
    assert final.returncode == 0, output

    root = setup["root"]
    assert snapshot(root / "crashed.duckdb") == snapshot(root / "clean.duckdb")  # type: ignore[operator]
    leftovers = [p.name for p in (root / "crashed-models").iterdir() if p.name.endswith(".partial")]  # type: ignore[operator]
    assert leftovers == []


def test_reingesting_after_a_complete_run_changes_nothing(setup: dict[str, object]) -> None:
    generated, env, config = setup["generated"], setup["env"], setup["config"]
    path = config("clean")  # type: ignore[operator]
    before = snapshot(setup["root"] / "clean.duckdb")  # type: ignore[operator]
    done = cli(
        "ingest",
        "--customers", str(generated.customers_path),  # type: ignore[attr-defined]
        "--tickets", str(generated.tickets_path),  # type: ignore[attr-defined]
        "--config", str(path),
        env=env,  # type: ignore[arg-type]
    )  # fmt: skip
    output = done.communicate(timeout=300)[0]
    assert done.returncode == 0, output
    assert snapshot(setup["root"] / "clean.duckdb") == before  # type: ignore[operator]
