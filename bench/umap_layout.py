"""The UMAP layout's negative sampling and the outlier threshold, on every labelled collection.

Usage: .venv/bin/python bench/umap_layout.py [--collections hwu64 ...] [--profiles default fast]
           [--rates 5 2] [--thresholds 0.5 0.4] [--seeds 42 1 2 3] [--data DIR]

Each collection of `bench/topics_quality.py` is ingested, prepared and embedded once per
profile; then the product's own clustering (`topics.clustering.fit_bertopic` on the vectors
the topic stage clusters, with the minimum topic size the stage picks, then the outlier policy
as `fit_topics` applies it) runs for each UMAP negative sample rate and seed, and each outlier
threshold. Every ticket is clustered (no fit sample), no known issues, no labels. It prints,
per setting, the issue NMI against the fine labels (unclustered tickets count as one cluster),
the coverage and the topic count, as means over the seeds, and the seconds of the clustering.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import topics_quality as tq  # sets up the offline environment and the paths

from persona_mining import warehouse as db
from persona_mining.config import load_config
from persona_mining.ingest.load import ingest_tickets
from persona_mining.pipeline import run_pipeline
from persona_mining.text.embed import load_vectors, make_embedder
from persona_mining.topics.clustering import apply_outlier_policy, fit_bertopic
from persona_mining.topics.model import _with_words


def prepared(collection: tq.Collection, profile: str, data: Path, workdir: Path):
    """(config, texts, embeddings, clustering vectors, fine labels) of one collection."""
    workdir.mkdir(parents=True)
    source, columns = tq.ticket_file(collection, data, workdir)
    config = load_config(profile=profile)
    config = config.model_copy(
        update={"models": config.models.model_copy(update={"dir": workdir / "models"})}
    )
    tq.share_static_model(config, workdir / "models")
    con = db.connect(workdir / "bench.duckdb")
    try:
        ingest_tickets(con, path=source, columns=columns or None)
        run_pipeline(con, config, only=["prepare", "embed"], refit=True)
        embedder = make_embedder(config.models)
        ids, vectors = load_vectors(con, model=embedder.name)
        texts = dict(con.execute("SELECT ticket_id, text FROM prepared_tickets").fetchall())
        fine = dict(
            con.execute(
                f"SELECT ticket_id, {db.quote_identifier(collection.fine)}::VARCHAR FROM tickets"
            ).fetchall()
        )
    finally:
        con.close()
    ordered = [texts[i] for i in ids]
    words = _with_words(ordered, vectors, embedder, config.topics.word_weight)
    return config, ordered, vectors, words, [fine[i] for i in ids]


def outlier_policy(
    assigned: np.ndarray, vectors: np.ndarray, words: np.ndarray | None, threshold: float
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """The outlier policy as `fit_topics` applies it on every ticket: first in the space the
    tickets were clustered in (with their words), then on the embeddings; the topics and the
    embeddings' centroids."""
    if words is not None:
        assigned, _, _ = apply_outlier_policy(assigned, words, threshold)
    assigned, _, centroids = apply_outlier_policy(assigned, vectors, threshold)
    return assigned, centroids


def table_header(columns: list[str]) -> str:
    """A Markdown table's header row and rule."""
    return "| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|"


def main() -> int:
    from sklearn.metrics import normalized_mutual_info_score

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--collections", nargs="+", choices=sorted(tq.COLLECTIONS), default=tq.FULL)
    parser.add_argument("--profiles", nargs="+", default=["default", "fast"])
    parser.add_argument("--rates", nargs="+", type=int, default=[5, 2])
    parser.add_argument("--thresholds", nargs="+", type=float, default=[0.5, 0.4])
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 1, 2, 3])
    parser.add_argument("--data", type=Path, default=tq.ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    # (profile, rate, threshold) -> collection -> [(nmi, coverage, topics)], and seconds
    scores: dict[tuple[str, int, float], dict[str, list[tuple[float, float, int]]]] = {}
    seconds: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="umap-layout-") as tmp:
        for name in args.collections:
            collection = tq.COLLECTIONS[name]
            for profile in args.profiles:
                config, texts, vectors, words, fine = prepared(
                    collection, profile, args.data, Path(tmp) / f"{name}-{profile}"
                )
                clustering = vectors if words is None else words
                min_topic_size = config.topics.min_topic_size or max(10, round(0.01 * len(texts)))
                for rate in args.rates:
                    for seed in args.seeds:
                        topics = config.topics.model_copy(
                            update={"seed": seed, "umap_negative_sample_rate": rate}
                        )
                        started = time.perf_counter()
                        _, clustered = fit_bertopic(texts, clustering, topics, min_topic_size)
                        seconds.setdefault((profile, rate), []).append(
                            time.perf_counter() - started
                        )
                        for threshold in args.thresholds:
                            assigned, _ = outlier_policy(clustered, vectors, words, threshold)
                            score = (
                                float(normalized_mutual_info_score(fine, assigned)),
                                float((assigned != -1).mean()),
                                len(set(assigned.tolist()) - {-1}),
                            )
                            scores.setdefault((profile, rate, threshold), {}).setdefault(
                                name, []
                            ).append(score)
                print(f"  {name} / {profile}: {len(texts):,} tickets done", flush=True)
    print("\nissue NMI / coverage / topics, means over seeds " + ", ".join(map(str, args.seeds)))
    print(
        "\n"
        + table_header(
            [
                "profile",
                "negative rate",
                "outlier threshold",
                *args.collections,
                "clustering s, all",
            ]
        )
    )
    for (profile, rate, threshold), by_name in scores.items():
        cells = []
        for name in args.collections:
            runs = np.array(by_name[name])
            cells.append(
                f"{runs[:, 0].mean():.3f} / {runs[:, 1].mean():.2f} / {runs[:, 2].mean():.0f}"
            )
        print(
            f"| {profile} | {rate} | {threshold} | "
            + " | ".join(cells)
            + f" | {sum(seconds[(profile, rate)]):.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
