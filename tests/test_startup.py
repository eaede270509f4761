"""No start-up tax: commands that only read stay clear of the model and orchestration libraries,
and a run with nothing new says so before any Prefect server or model is started."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from persona_mining import warehouse as db
from persona_mining.config import Config
from persona_mining.pipeline import _source_changed, pending_work

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "bertopic", "sentence_transformers", "spacy", "prefect", "umap", "hdbscan")

# Runs one CLI command in a fresh interpreter, then lists the heavy packages it imported.
_PROBE = """
import json, sys
from persona_mining.cli import main
watched = set(json.loads(sys.argv[2]))
sys.argv = ["persona-mining", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & watched)
print("\\nIMPORTED=" + json.dumps(heavy))
"""


def probe(args: list[str], cwd: Path) -> tuple[list[str], str]:
    """The heavy packages `persona-mining ARGS` imported, and what it printed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args), json.dumps(HEAVY)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    marker = done.stdout.rpartition("IMPORTED=")
    assert marker[1], f"the probe did not finish: {done.stdout}\n{done.stderr}"
    return json.loads(marker[2]), done.stdout + done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["table"],
        ["table", "--format", "json"],
        ["persona", "student"],
        ["sql", "SELECT count(*) FROM tickets"],
    ],
)
def test_the_commands_that_read_import_no_model_or_orchestration_library(
    tmp_path: Path, args: list[str]
) -> None:
    path = tmp_path / "persona.duckdb"
    db.connect(path).close()
    imported, output = probe([*args, "--db", str(path)], tmp_path)
    assert imported == [], output


def test_bertopic_loads_without_transformers_which_stays_importable(tmp_path: Path) -> None:
    # The fast profile needs no transformers; BERTopic alone would import its pipelines.
    code = (
        "import sys\n"
        "from persona_mining.topics.clustering import import_bertopic\n"
        "import_bertopic()\n"
        "from bertopic import BERTopic\n"
        "print('LOADED', 'transformers' in sys.modules)\n"
        "import transformers\n"
        "print('LATER', transformers.__name__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "LOADED False" in done.stdout, done.stdout + done.stderr
    assert "LATER transformers" in done.stdout, done.stdout + done.stderr


def test_pending_work_asks_to_run_an_empty_warehouse_and_a_refit(con: object) -> None:
    assert pending_work(con, Config()).reason == "no run yet"  # type: ignore[arg-type]
    assert pending_work(con, Config(), refit=True).reason == "a refit was asked for"  # type: ignore[arg-type]


def test_a_source_file_counts_as_changed_when_modified_since_the_run(tmp_path: Path) -> None:
    source = tmp_path / "tickets.csv"
    source.write_text("ticket_id\n1\n", encoding="utf-8")
    modified = datetime.fromtimestamp(source.stat().st_mtime, UTC).replace(tzinfo=None)
    assert _source_changed(source, modified - timedelta(seconds=5))
    assert not _source_changed(source, modified + timedelta(seconds=5))
    assert not _source_changed(tmp_path, modified + timedelta(seconds=5))  # a folder
    assert _source_changed(tmp_path / "missing.csv", modified + timedelta(seconds=5))
    assert _source_changed(None, modified + timedelta(seconds=5))  # a pulled source


@pytest.mark.slow
def test_a_run_with_nothing_new_says_so_without_prefect_and_new_tickets_make_work(
    demo_run: dict[str, object], tmp_path: Path
) -> None:
    config = demo_run["config"]
    assert isinstance(config, Config)
    copy = tmp_path / "persona.duckdb"
    shutil.copy(config.warehouse.path, copy)
    con = db.connect(copy, read_only=True)
    try:
        pending = pending_work(con, config)
    finally:
        con.close()
    assert pending.reason is None
    assert pending.tickets > 0

    imported, output = probe(
        ["run", "--config", str(config.source), "--db", str(copy)], Path(tmp_path)
    )
    assert "nothing new since run" in output
    assert imported == [], output

    con = db.connect(copy)
    try:
        latest = con.execute(
            "SELECT run_id, status, stages FROM pipeline_runs ORDER BY started_at DESC LIMIT 1"
        ).fetchall()[0]
        assert latest[0] != pending.last_run_id and latest[1:] == ("completed", "{}")
        assert pending_work(con, config).reason is None  # the idle run changes nothing
        con.execute(
            "UPDATE tickets SET ingested_at = now()::TIMESTAMP, body = body || ' again' "
            "WHERE ticket_id = (SELECT min(ticket_id) FROM tickets)"
        )
        assert pending_work(con, config).reason == "1 tickets new or changed"
        assert pending_work(con, config, refit=True).reason == "a refit was asked for"
        changed = config.model_copy(update={"profile": "fast"})
        con.execute("UPDATE tickets SET ingested_at = TIMESTAMP '2000-01-01'")
        assert pending_work(con, changed).reason == "the config differs from the last run's"
    finally:
        con.close()


def test_run_finds_the_server_serve_runs_only_while_it_answers(tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from flows.server import URL_FILE, running_server_url

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    assert running_server_url(tmp_path) is None  # no file: no server
    server = HTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api_url = f"http://127.0.0.1:{server.server_address[1]}/api"
    (tmp_path / URL_FILE).write_text(api_url + "\n", encoding="utf-8")
    try:
        assert running_server_url(tmp_path) == api_url
    finally:
        server.shutdown()
        server.server_close()
    assert running_server_url(tmp_path) is None  # a file left by a server that is gone


def test_the_runner_tells_progress_how_far_prepare_is(con: object) -> None:
    from persona_mining.config import PrepareConfig
    from persona_mining.pipeline import run_pipeline
    from tests.synthetic import Ticket, add_tickets

    add_tickets(con, [Ticket(f"t{i}", None, 0, text=f"Where is order {i}?") for i in range(5)])  # type: ignore[arg-type]
    con.execute("DELETE FROM prepared_tickets")  # type: ignore[attr-defined]
    config = Config(prepare=PrepareConfig(spacy_model="blank", batch_size=2))
    calls: list[tuple[str, int, int | None]] = []
    run_pipeline(con, config, only=["prepare"], progress=lambda *call: calls.append(call))  # type: ignore[arg-type]
    steps = [call for call in calls if call[0] == "prepare"]
    assert steps[-1] == ("prepare", 5, 5)
    assert [done for _, done, _ in steps] == sorted(done for _, done, _ in steps)
    # Rules and a sentencizer only: no statistical pipeline to load before preparing.
    assert {call[0] for call in calls} == {"prepare"}


def test_ingest_tells_progress_the_lines_read_and_the_rows_written(
    con: object, tmp_path: Path
) -> None:
    from persona_mining.ingest.load import ingest_tickets

    path = tmp_path / "tickets.csv"
    rows = [f"t{i},2026-01-01,Where is order {i}?" for i in range(25_000)]
    path.write_text("ticket_id,created_at,body\n" + "\n".join(rows) + "\n", encoding="utf-8")
    calls: list[tuple[str, int, int | None]] = []
    result = ingest_tickets(con, path=path, progress=lambda *call: calls.append(call))  # type: ignore[arg-type]
    assert result.new == 25_000
    reading = [call for call in calls if call[0] == "reading tickets.csv"]
    # The header and 25,000 rows; reported at the start, every 10,000 rows, and at the end.
    assert [done for _, done, _ in reading] == [0, 10_001, 20_001, 25_001]
    assert {total for _, _, total in reading} == {25_001}
    assert [call for call in calls if call[0] == "writing tickets.csv"] == [
        ("writing tickets.csv", 0, None),
        ("writing tickets.csv", 25_000, 25_000),
    ]


def test_the_models_load_beside_the_start_of_a_run_that_needs_them(
    demo_run: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from persona_mining import cli
    from persona_mining.text import embed, language

    config = demo_run["config"]
    assert isinstance(config, Config)
    copy = tmp_path / "persona.duckdb"
    shutil.copy(config.warehouse.path, copy)
    config = config.model_copy(
        update={"warehouse": config.warehouse.model_copy(update={"path": copy})}
    )
    asked: list[object] = []
    monkeypatch.setattr(language, "preload", asked.append)
    monkeypatch.setattr(embed, "preload_embedder", asked.append)
    detection, models = config.prepare.language_detection, config.models
    cli._preload_models(config, refit=False, ingest=False)  # every ticket prepared: none
    assert asked == []
    cli._preload_models(config, refit=True, ingest=False)  # a refit embeds the labels
    assert asked == [models]
    cli._preload_models(config, refit=False, ingest=True)  # a source may bring new tickets
    assert asked == [models, detection, models]
    con = db.connect(copy)
    try:
        con.execute(  # as ingest records a changed ticket
            "UPDATE tickets SET raw_hash = 'changed' "
            "WHERE ticket_id = (SELECT min(ticket_id) FROM tickets)"
        )
    finally:
        con.close()
    asked.clear()
    cli._preload_models(config, refit=False, ingest=False)  # a changed ticket to prepare
    off = config.model_copy(
        update={"prepare": config.prepare.model_copy(update={"language_detection": "off"})}
    )
    cli._preload_models(off, refit=False, ingest=False)  # no language to detect
    assert asked == [detection, models, models]


def test_a_preloaded_embedding_model_is_the_one_taken_and_its_error_raised_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from persona_mining.config import ModelsConfig
    from persona_mining.errors import ModelError
    from persona_mining.text import embed

    monkeypatch.setattr(embed, "_PRELOADING", {})
    loads: list[str] = []

    def load(models: ModelsConfig) -> object:
        loads.append(models.embedding)
        if models.embedding == "missing":
            raise ModelError("embedding model missing: not found")
        return ("model", models.embedding)

    monkeypatch.setattr(embed, "_load_embedder", load)
    models = ModelsConfig(embedding="one")
    embed.preload_embedder(models)
    embed.preload_embedder(models)  # once per section
    assert embed.make_embedder(models) == ("model", "one")
    assert embed.make_embedder(models) == ("model", "one") and loads == ["one", "one"]
    embed.preload_embedder(ModelsConfig(embedding="missing"))
    with pytest.raises(ModelError, match="not found"):
        embed.make_embedder(ModelsConfig(embedding="missing"))
    embed.preload_embedder(ModelsConfig(embedding="two"))  # never taken: waited for at the end
    embed.finish_preloads()
    assert embed._PRELOADING == {} and loads == ["one", "one", "missing", "two"]
