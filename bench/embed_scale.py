"""Embedding throughput: in process vs fanned out over a local Dask cluster through prefect-dask.

Usage: .venv/bin/python bench/embed_scale.py [--tickets 2000] [--workers 2] [--chunk-size 256]

Takes the text of the first N demo tickets (subject and body, as the embed stage sees prepared
text), then embeds it three ways into fresh warehouses: in this process (the default path), and
inside a Prefect flow with `[scale] executor = "dask"` on a LocalCluster of worker processes and
of worker threads. Prints texts/s of the encoding (`embed` stage seconds) and of the whole stage
including starting the cluster and loading the model on each worker, and checks the vectors
agree. Needs the `[scale]` extra (prefect-dask). Starts a Prefect server on loopback for the flows.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from persona_mining.environment import use_offline_environment  # noqa: E402

use_offline_environment()
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

import atexit  # noqa: E402

from flows.server import LocalPrefectServer  # noqa: E402

# A real Prefect server, as under `persona-mining serve` (worker processes report to it too).
_home = Path(tempfile.mkdtemp(prefix="bench-prefect-"))
os.environ["PREFECT_HOME"] = str(_home)
_server = LocalPrefectServer(home=_home)
os.environ["PREFECT_API_URL"] = _server.start()
atexit.register(_server.stop)

import numpy as np  # noqa: E402
from prefect import flow  # noqa: E402

from persona_mining import warehouse as db  # noqa: E402
from persona_mining.config import ModelsConfig, ScaleConfig  # noqa: E402
from persona_mining.demo.generate import generate_demo  # noqa: E402
from persona_mining.text.embed import SentenceTransformerEmbedder, embed_tickets, load_vectors  # noqa: E402


def warehouse_with_texts(path: Path, texts: list[str]) -> None:
    con = db.connect(path)
    for i, text in enumerate(texts):
        digest = hashlib.sha256(f"{i}:{text}".encode()).hexdigest()
        con.execute(
            """INSERT INTO prepared_tickets (ticket_id, raw_hash, text, text_hash, lemmas,
                noun_phrases, n_sentences, spacy_model, prepared_at)
            VALUES (?, ?, ?, ?, '', [], 1, 'blank', now())""",
            [f"T{i:06d}", digest, text, digest],
        )
    con.close()


@flow(name="bench-embed-on-dask")
def dask_embed(db_path: str, workers: int, processes: bool, chunk_size: int) -> dict[str, float]:
    """The embed stage as the pipeline runs it with [scale] executor = "dask"."""
    from flows.scale import embed_on_dask

    scale = ScaleConfig(
        executor="dask", dask_workers=workers, dask_processes=processes, chunk_size=chunk_size
    )
    con = db.connect(db_path)
    try:
        embedder = SentenceTransformerEmbedder()
        started = time.perf_counter()
        result = embed_on_dask(con, embedder=embedder, models=ModelsConfig(), scale=scale)
        values = asdict(result)
        values["stage_seconds"] = time.perf_counter() - started
        return values
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=256)
    args = parser.parse_args()
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        demo = generate_demo(Path(tmp) / "demo", seed=7, n_customers=args.tickets // 3 + 50)
        import csv

        with demo.tickets_path.open(encoding="utf-8") as f:
            texts = [f"{r['subject']}\n{r['body']}" for r in csv.DictReader(f)][: args.tickets]
        print(
            f"{len(texts)} demo tickets, mean {sum(map(len, texts)) / len(texts):.0f} chars; "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs"
        )
        rows = []

        path = Path(tmp) / "local.duckdb"
        warehouse_with_texts(path, texts)
        con = db.connect(path)
        embedder = SentenceTransformerEmbedder()
        embedder.encode(texts[:8])  # warm up, as a running pipeline would be
        result = embed_tickets(con, embedder=embedder)
        _, reference = load_vectors(con, model=embedder.name)
        con.close()
        rows.append(("in process (default)", result.seconds, result.seconds, 0.0))

        for label, processes in (("worker processes", True), ("worker threads", False)):
            path = Path(tmp) / f"dask-{processes}.duckdb"
            warehouse_with_texts(path, texts)
            values = dask_embed(str(path), args.workers, processes, args.chunk_size)
            con = db.connect(path, read_only=True)
            _, vectors = load_vectors(con, model=embedder.name)
            con.close()
            diff = float(np.abs(vectors - reference).max())
            rows.append(
                (
                    f"Dask LocalCluster, {args.workers} {label} x 1 thread",
                    float(values["seconds"]),
                    float(values["stage_seconds"]),
                    diff,
                )
            )

        print("\n| path | encode texts/s | stage texts/s (with cluster start) | max abs diff |")
        print("|---|---|---|---|")
        for label, seconds, stage, diff in rows:
            print(
                f"| {label} | {len(texts) / seconds:.0f} | {len(texts) / stage:.0f} | {diff:.1e} |"
            )


if __name__ == "__main__":
    main()
