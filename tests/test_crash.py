"""Crash safety: a run killed at any point, then re-run, gives the warehouse of a clean run.

Real subprocesses running the real CLI are killed with SIGKILL in the middle of a stage: while
ingesting the tickets, while embedding, and while saving the topic model. Each kill waits for
the stage's `status=started` line (and, for the model, its staging folder), freezes the process
group, and checks that the stage had not completed before killing it.

The runs use a Prefect server that outlives them, as `serve` runs one (its address in
`server.url` of the Prefect home), except the first kill, which takes the run's temporary
server with it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


def cli(
    *args: str, env: dict[str, str], nice: int = 0, cpus: set[int] | None = None
) -> subprocess.Popen[str]:
    """The CLI in its own process group: a kill takes a temporary Prefect server with it, as a
    crash would. `nice` lowers its priority and `cpus` keeps it (and its threads) on those
    cores, so that a watcher in this process is not starved by it on a busy machine."""
    command = [sys.executable, "-m", "persona_mining.cli", *args]
    if nice:
        command = ["nice", "-n", str(nice), *command]
    if cpus and shutil.which("taskset"):
        command = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *command]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )


def stage_line(stage: str, status: str) -> re.Pattern[str]:
    """The flow's logfmt line for `stage` reaching `status` (`ingest tickets` matches any path)."""
    name = re.escape(stage)
    return re.compile(rf'\bstage=(?:{name}|"{name}(?: [^"]*)?")\s.*\bstatus={status}\b')


class Output:
    """A child's output, read line by line on a thread as it comes."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()
        with self.changed:
            self.closed = True
            self.changed.notify_all()

    def text(self) -> str:
        with self.changed:
            return "".join(self.lines)

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> bool:
        """Whether a line matching `pattern` arrives before the output ends or `timeout`."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not any(pattern.search(line) for line in self.lines):
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    return False
                self.changed.wait(left)
            return True

    def drain(self, quiet: float = 0.5) -> None:
        """Read what is already in the pipe: wait until nothing new came for `quiet` seconds."""
        with self.changed:
            while True:
                count = len(self.lines)
                self.changed.wait(quiet)
                if len(self.lines) == count:
                    return


def kill_mid_stage(
    process: subprocess.Popen[str],
    stage: str,
    evidence: Callable[[], bool] | None = None,
) -> str:
    """SIGKILL the run while `stage` is running, and prove that it was.

    The kill waits for the stage's `status=started` line (and then for `evidence`, such as its
    partial output, when given), stops the whole process group, reads what it had written,
    checks that the stage had not completed, and only then kills it.
    """
    output = Output(process)
    try:
        started = output.wait_for(stage_line(stage, "started"), timeout=600)
        assert started, f"stage {stage!r} never started:\n{output.text()}"
        if evidence is not None:
            deadline = time.monotonic() + 600
            while not evidence():
                assert process.poll() is None and time.monotonic() < deadline, (
                    f"no evidence of stage {stage!r} at work before the run ended:\n{output.text()}"
                )
                time.sleep(0)  # the evidence may last a few milliseconds: no sleeping through it
        os.killpg(process.pid, signal.SIGSTOP)
        output.drain()
        assert process.poll() is None, f"the run ended before the kill:\n{output.text()}"
        assert evidence is None or evidence()
        assert not stage_line(stage, "completed").search(output.text()), (
            f"stage {stage!r} completed before the kill:\n{output.text()}"
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        output.thread.join(timeout=5)
    assert process.returncode == -signal.SIGKILL
    return output.text()


def succeed(process: subprocess.Popen[str], timeout: float = 600) -> str:
    """The output of a run that must exit cleanly."""
    output = process.communicate(timeout=timeout)[0]
    assert process.returncode == 0, output
    return output


@dataclass(frozen=True)
class Demo:
    """The generated help desk, and how to run the CLI on a warehouse of one's own."""

    root: Path
    customers: Path
    tickets: Path
    env: dict[str, str]

    def alone(self) -> dict[str, str]:
        """The environment of a run that starts a temporary Prefect server of its own."""
        return {**self.env, "PREFECT_HOME": str(self.root / "prefect-alone")}

    def config(self, name: str) -> Path:
        """A config whose warehouse and models live under `name`, with the demo as sources."""
        path = self.root / f"{name}.toml"
        base = (self.root / "data" / "persona-mining.toml").read_text(encoding="utf-8")
        path.write_text(
            base
            + f'\n[warehouse]\npath = "{self.root / name}.duckdb"\n'
            + f'[models]\ndir = "{self.root / name}-models"\n'
            + f'\n[[sources]]\nkind = "customers"\npath = "{self.customers}"\n'
            + f'\n[[sources]]\nkind = "tickets"\npath = "{self.tickets}"\n',
            encoding="utf-8",
        )
        return path

    def ingest_args(self) -> list[str]:
        return ["ingest", "--customers", str(self.customers), "--tickets", str(self.tickets)]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    from flows.server import LocalPrefectServer
    from persona_mining.demo.generate import generate_demo

    root = tmp_path_factory.mktemp("crash")
    generated = generate_demo(root / "data", seed=5, n_customers=CUSTOMERS)
    assert generated.config_path == root / "data" / "persona-mining.toml"
    env = {
        **os.environ,
        "PREFECT_HOME": str(root / "prefect"),
        "PREFECT_API_URL": "",
        "PYTHONUNBUFFERED": "1",
        # A loaded machine can take longer than Prefect's default to start its server.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }
    # One server for the module: each CLI run finds it through `server.url` and skips the
    # start-up of a temporary one.
    with LocalPrefectServer(home=root / "prefect"):
        yield Demo(root, generated.customers_path, generated.tickets_path, env)


@pytest.fixture(scope="module")
def clean_run(demo: Demo) -> Path:
    """The warehouse of an uninterrupted ingest and run; tests copy it before changing it."""
    config = demo.config("clean")
    succeed(cli(*demo.ingest_args(), "--config", str(config), env=demo.env))
    succeed(cli("run", "--config", str(config), env=demo.env))
    return demo.root / "clean.duckdb"


def test_killed_runs_then_a_rerun_equal_an_uninterrupted_run(demo: Demo, clean_run: Path) -> None:
    crashed = demo.config("crashed")
    models = demo.root / "crashed-models"

    def saving_a_model() -> bool:
        return models.is_dir() and any(p.name.endswith(".partial") for p in models.iterdir())

    # Killed while ingesting the tickets, while embedding, and while saving the topic model.
    run_ingesting = ["run", "--ingest", "--config", str(crashed)]
    alone = kill_mid_stage(cli(*run_ingesting, env=demo.alone()), "ingest tickets")
    # PREFECT_API_URL is empty here, which must count as unset: no event fails to be sent.
    assert "Error emitting event" not in alone and "EventsWorker" not in alone, alone
    kill_mid_stage(cli(*run_ingesting, env=demo.env), "embed")
    # Saving a model of 540 tickets takes milliseconds, so the watcher must not wait for a core
    # between seeing the staging folder and stopping the run: with two cores or more, the run
    # (at a lower priority) keeps to the last one and the watcher to the others.
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    split = len(cores) >= 2
    saving = cli(*run_ingesting, env=demo.env, nice=10, cpus={cores[-1]} if split else None)
    if split:
        os.sched_setaffinity(0, cores[:-1])
    try:
        kill_mid_stage(saving, "topics", evidence=saving_a_model)
    finally:
        if split:
            os.sched_setaffinity(0, cores)
    assert saving_a_model()  # the killed save left its staging folder behind
    succeed(cli(*run_ingesting, env=demo.env))

    assert snapshot(demo.root / "crashed.duckdb") == snapshot(clean_run)
    leftovers = [p.name for p in models.iterdir() if p.name.endswith(".partial")]
    assert leftovers == []


def test_reingesting_after_a_complete_run_changes_nothing(
    demo: Demo, clean_run: Path, tmp_path: Path
) -> None:
    warehouse = tmp_path / "copy.duckdb"
    shutil.copyfile(clean_run, warehouse)
    before = snapshot(warehouse)
    succeed(
        cli(
            *demo.ingest_args(),
            "--config",
            str(demo.config("copy")),
            "--db",
            str(warehouse),
            env=demo.env,
        ),
        timeout=300,
    )
    assert snapshot(warehouse) == before


def test_a_run_stopped_by_sigterm_stops_its_temporary_prefect_server(
    demo: Demo, clean_run: Path
) -> None:
    """`kill PID` (SIGTERM, what a scheduler or `timeout` sends) left the run's temporary
    Prefect server running with no parent, holding its port and a few hundred MB."""
    import psutil

    config = demo.config("terminated")
    shutil.copy(clean_run, demo.root / "terminated.duckdb")
    process = cli("run", "--refit", "--config", str(config), env=demo.alone())
    output = Output(process)
    try:
        assert output.wait_for(stage_line("topics", "started"), timeout=600), output.text()
        children = psutil.Process(process.pid).children(recursive=True)
        assert any("uvicorn" in " ".join(c.cmdline()) for c in children), output.text()
        process.send_signal(signal.SIGTERM)  # the CLI alone, not its process group
        process.wait(timeout=120)
        _, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, [" ".join(c.cmdline()) for c in alive]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        output.thread.join(timeout=5)
    con = db.connect(demo.root / "terminated.duckdb", read_only=True)
    try:
        (status,) = con.execute(
            "SELECT status FROM pipeline_runs ORDER BY started_at DESC LIMIT 1"
        ).fetchone() or (None,)
    finally:
        con.close()
    assert status in ("failed", "interrupted")
