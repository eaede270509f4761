"""Upgrades: a warehouse and a topic model written by an older version still open, or say what to do."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from persona_mining import warehouse as db
from persona_mining.cli import app
from persona_mining.errors import ModelError
from persona_mining.topics.model import load_centroids

FIRST_RELEASE_MIGRATIONS = 2  # 001_init and 002_ingest_watermarks
# The view of the first release that `status` reads.
FIRST_RELEASE_VIEW = """CREATE OR REPLACE VIEW v_current_model AS
SELECT model_id, created_at, path, embedding_model, n_tickets, n_topics, data_from, data_to, params
FROM topic_models ORDER BY created_at DESC, model_id DESC LIMIT 1"""


def first_release_warehouse(path: Path) -> None:
    """A warehouse as the first release left it: its migrations, its view, and some data."""
    con = duckdb.connect(str(path))
    con.execute(db._MIGRATIONS_TABLE)
    for file in sorted(db.SCHEMA_DIR.glob("*.sql"))[:FIRST_RELEASE_MIGRATIONS]:
        con.execute(file.read_text(encoding="utf-8"))
        con.execute(
            "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
            [int(file.name[:3]), file.name],
        )
    con.execute(FIRST_RELEASE_VIEW)
    con.execute(
        """INSERT INTO tickets VALUES ('T1', 'C1', '2026-01-05 10:00', '2026-01-05 10:00', 'email',
            'Refund', 'Where is my refund?', 'old.csv', 'r', 'w', '2026-01-06')"""
    )
    con.execute("INSERT INTO customers VALUES ('C1', 'old.csv', '2026-01-06')")
    con.execute(
        """INSERT INTO prepared_tickets VALUES ('T1', 'r', 'Where is my refund?', 'h1', 'refund',
            ['refund'], 1, 'en_core_web_sm', '2026-01-06')"""
    )
    con.execute(
        "INSERT INTO ingest_watermarks VALUES ('tickets:/old.csv', '2026-01-05 10:00', '2026-01-06')"
    )
    con.execute(
        """INSERT INTO pipeline_runs VALUES
        ('run-1', 'prepare', '2026-01-06 02:00', '2026-01-06 02:01', 1, '{"prepared": 1}'),
        ('run-1', 'embed', '2026-01-06 02:01', '2026-01-06 02:02', 1, NULL)"""
    )
    con.close()


def test_an_older_warehouse_is_upgraded_on_open_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    first_release_warehouse(path)

    result = CliRunner().invoke(app, ["status", "--db", str(path)])  # read-only: nothing applied
    assert result.exit_code == 0, result.output
    assert "migrations pending" in result.output and "/old.csv" in result.output

    con = db.connect(path)  # writable: pending migrations are applied
    try:
        versions = {r[0] for r in con.execute("SELECT name FROM schema_migrations").fetchall()}
        assert versions == {f.name for f in db.SCHEMA_DIR.glob("*.sql")}
        assert con.execute("SELECT ticket_id, body FROM tickets").fetchall() == [
            ("T1", "Where is my refund?")
        ]
        assert con.execute("SELECT count(*) FROM customers").fetchone() == (1,)
        assert con.execute("SELECT language, in_scope FROM prepared_tickets").fetchall() == [
            ("und", True)
        ]
        run = con.execute(
            "SELECT run_id, status, started_at, finished_at, stages FROM pipeline_runs"
        ).fetchall()
        assert [(r[0], r[1], str(r[2]), str(r[3])) for r in run] == [
            ("run-1", "completed", "2026-01-06 02:00:00", "2026-01-06 02:02:00")
        ]
        assert json.loads(run[0][4])["prepare"]["details"] == {"prepared": 1}
        assert con.execute("SELECT count(*) FROM issue_snapshots").fetchone() == (0,)
        for view in db.view_names():
            con.execute(f"SELECT * FROM {view}").fetchall()
    finally:
        con.close()
    assert db.connect(path).execute("SELECT count(*) FROM tickets").fetchone() == (1,)


def first_release_model(folder: Path, *, topics: list[int]) -> Path:
    """A topic model folder as the first release saved it: centroids and a short manifest."""
    from safetensors.numpy import save_file

    (folder / "bertopic").mkdir(parents=True)
    centroids = np.eye(len(topics), 384, dtype=np.float32)
    save_file(
        {"topic_embeddings": centroids}, str(folder / "bertopic" / "topic_embeddings.safetensors")
    )
    manifest = {
        "model_id": folder.name,
        "embedding_model": "all-MiniLM-L6-v2",
        "topics": [{"topic_id": t, "label": f"topic {t}", "size": 10} for t in topics],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def test_a_topic_model_saved_by_the_first_release_still_loads(tmp_path: Path) -> None:
    folder = first_release_model(tmp_path / "topics-20260101T000000-abcdef12", topics=[-1, 0, 1])
    ids, centroids = load_centroids(folder)
    assert ids == [-1, 0, 1] and centroids.shape == (3, 384)


@pytest.mark.parametrize(
    "damage, message",
    [
        ("no centroids", "cannot be read"),
        ("manifest without topics", "format this version cannot read"),
        ("topics and centroids disagree", "lists 2 topics but it holds 3 centroids"),
    ],
)
def test_a_topic_model_that_cannot_be_used_asks_for_a_refit(
    tmp_path: Path, damage: str, message: str
) -> None:
    folder = first_release_model(tmp_path / "topics-old", topics=[-1, 0, 1])
    manifest = json.loads((folder / "manifest.json").read_text())
    if damage == "no centroids":
        (folder / "bertopic" / "topic_embeddings.safetensors").unlink()
    elif damage == "manifest without topics":
        del manifest["topics"]
    else:
        manifest["topics"] = manifest["topics"][:2]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=message) as error:
        load_centroids(folder)
    assert "persona-mining run --refit" in str(error.value)
