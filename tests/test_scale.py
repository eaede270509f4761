"""Beyond one machine: embedding fanned out over Dask gives the in-process vectors; devices."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path

import duckdb
import numpy as np
import pytest

from persona_mining import warehouse as db
from persona_mining.config import ModelsConfig, ScaleConfig
from persona_mining.errors import ModelError
from persona_mining.text.embed import (
    SentenceTransformerEmbedder,
    cpu_capabilities,
    embed_tickets,
    load_vectors,
    make_embedder,
    resolve_device,
    resolve_precision,
)

TEXTS = [
    "The app crashes every time I open my orders.",
    "Where is my refund for the blender I returned?",
    "I was charged twice for the same order.",
    "How do I change the delivery address?",
    "My parcel arrived damaged, the box was crushed.",
    "Can I get a student discount on the annual plan?",
    "Password reset email never arrives.",
    "The size chart is wrong, the jacket is too small.",
    "Order",
    "Is there a warranty on the headphones? They stopped working after a month.",
    "Please cancel my subscription before the next billing date.",
]


def prepared(con: duckdb.DuckDBPyConnection, texts: list[str]) -> None:
    for i, text in enumerate(texts):
        digest = hashlib.sha256(text.encode()).hexdigest()
        con.execute(
            """INSERT INTO prepared_tickets (ticket_id, raw_hash, text, text_hash, lemmas,
                noun_phrases, n_sentences, spacy_model, prepared_at)
            VALUES (?, ?, ?, ?, '', [], 1, 'blank', now())""",
            [f"T{i:02d}", digest, text, digest],
        )


def embed_on_dask_flow(db_path: str, workers: int, chunk_size: int) -> dict[str, object]:
    """The embed stage fanned out over a LocalCluster of threads, as the pipeline runs it.

    A flow at module level that opens what it needs: prefect-dask pickles the flow run's
    context (flow and parameters) for the workers, and a connection cannot be pickled.
    """
    from flows.scale import embed_on_dask
    from persona_mining.text.embed import SentenceTransformerEmbedder

    scale = ScaleConfig(
        executor="dask", dask_workers=workers, dask_processes=False, chunk_size=chunk_size
    )
    con = db.connect(db_path)
    try:
        embedder = SentenceTransformerEmbedder()
        return asdict(embed_on_dask(con, embedder=embedder, models=ModelsConfig(), scale=scale))
    finally:
        con.close()


def test_embedding_on_a_local_dask_cluster_gives_the_in_process_vectors(
    prefect_harness: None,
    tmp_path: Path,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    pytest.importorskip("prefect_dask")
    from prefect import flow

    path = tmp_path / "w.duckdb"
    con = db.connect(path)
    prepared(con, TEXTS)
    con.close()

    result = flow(name="embed-on-dask-test")(embed_on_dask_flow)(str(path), 2, 3)
    assert (result["embedded"], result["cached"]) == (len(TEXTS), 0)
    con = db.connect(path, read_only=True)
    ids, vectors = load_vectors(con, model=embedder.name)
    con.close()
    assert ids == [f"T{i:02d}" for i in range(len(TEXTS))]
    np.testing.assert_allclose(vectors, embedder.encode(TEXTS), atol=1e-5)


def test_the_embedding_device_is_chosen_or_refused_clearly() -> None:
    import torch

    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match='device = "auto" or "cpu"'):
            resolve_device("cuda")


def test_the_embedding_precision_is_bfloat16_only_where_the_cpu_computes_it() -> None:
    assert resolve_precision("float32", "cpu", {"avx512_bf16": True}) == "float32"
    assert resolve_precision("bfloat16", "cpu", {}) == "bfloat16"
    assert resolve_precision("auto", "cpu", {"avx512_bf16": True}) == "bfloat16"
    assert resolve_precision("auto", "cpu", {"amx_bf16": True, "avx512_bf16": False}) == "bfloat16"
    assert resolve_precision("auto", "cpu", {"avx2": True, "avx512_bf16": False}) == "float32"
    assert resolve_precision("auto", "cpu", {}) == "float32"
    assert resolve_precision("auto", "cuda", {"avx512_bf16": True}) == "float32"
    with pytest.raises(ValueError, match="precision"):
        ModelsConfig(precision="float16")


def test_bfloat16_vectors_are_float32_ones_to_1e4_cosine(
    con: duckdb.DuckDBPyConnection,
    embedder,  # type: ignore[no-untyped-def]
) -> None:
    """The arithmetic changes, not the model: each text's vector stays where float32 puts it,
    at unit length (it runs on any CPU; without bfloat16 instructions more slowly)."""
    assert embedder.precision == "float32"
    library = embedder._model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert np.array_equal(embedder.encode(TEXTS), library)  # float32: the library's, bit for bit
    faster = SentenceTransformerEmbedder(precision="bfloat16")
    assert (faster.name, faster.precision) == (embedder.name, "bfloat16")
    exact, approximate = embedder.encode(TEXTS), faster.encode(TEXTS)
    assert approximate.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(approximate, axis=1), 1.0, atol=1e-6)
    cosine = np.sum(exact * approximate, axis=1)
    assert cosine.min() > 0.999, cosine
    # Each text is still nearest to itself among the others' float32 vectors.
    assert (np.argmax(approximate @ exact.T, axis=1) == np.arange(len(TEXTS))).all()
    auto = make_embedder(ModelsConfig())
    assert auto.precision == resolve_precision("auto", "cpu")  # type: ignore[attr-defined]
    # The embed stage says which arithmetic it encoded in; the cache stays the model's.
    prepared(con, TEXTS)
    result = embed_tickets(con, embedder=faster)
    assert (result.model, result.precision, result.embedded) == (
        embedder.name,
        "bfloat16",
        len(TEXTS),
    )
    _, stored = load_vectors(con, model=embedder.name)
    assert np.sum(stored * exact, axis=1).min() > 0.999


def test_a_torch_that_cannot_report_the_cpu_means_no_bfloat16() -> None:
    """An older torch without `torch.cpu.get_capabilities`, or one whose probe fails, leaves
    "auto" at float32 instead of guessing."""
    from types import SimpleNamespace

    def failing() -> dict[str, bool]:
        raise RuntimeError("no cpuinfo")

    assert cpu_capabilities(SimpleNamespace()) == {}
    assert cpu_capabilities(SimpleNamespace(cpu=SimpleNamespace(get_capabilities=failing))) == {}
    reported = SimpleNamespace(cpu=SimpleNamespace(get_capabilities=lambda: {"avx512_bf16": True}))
    assert cpu_capabilities(reported) == {"avx512_bf16": True}
    assert resolve_precision("auto", "cpu", cpu_capabilities(SimpleNamespace())) == "float32"
