"""How finely the topics cut: HDBSCAN's density neighbourhood and the merge of close topics,
on every labelled collection.

Usage: .venv/bin/python bench/granularity.py [--collections hwu64 ...] [--profiles default fast]
           [--min-samples 0 5] [--merges 0 0.3] [--seeds 42 1 2] [--data DIR]

Each collection of `bench/topics_quality.py` is ingested, prepared and embedded once per
profile (`bench/umap_layout.prepared`); the product's UMAP layout (`topics.clustering.layout_model`)
is fitted once per seed, and on it HDBSCAN (`clustering_model`, the minimum topic size the
topic stage picks) runs for each `min_samples` (0: HDBSCAN's default, the minimum topic size),
then `merge_close_topics` for each merge share (0: no merge) and the outlier policy as
`fit_topics` applies it. Every ticket is clustered (no fit sample), no known issues. It prints
the issue NMI against the fine labels (unclustered tickets count as one cluster) and the topic
count, as means over the seeds; how many tickets keep their topic from the first seed to each
other one (a topic of the other seed is the first seed's topic whose centroid is most similar,
from `match_threshold`; unlike a refit's one-to-one match of keys, two topics may match the
same one, so this is the looser figure; a ticket whose topic has no match counts as moved);
and the median distance between two tickets per collection.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import topics_quality as tq  # sets up the offline environment and the paths
import umap_layout

from persona_mining.topics.clustering import (
    clustering_model,
    layout_model,
    merge_close_topics,
    typical_distance,
)


def kept(
    before: tuple[np.ndarray, dict[int, np.ndarray]],
    after: tuple[np.ndarray, dict[int, np.ndarray]],
    threshold: float,
) -> float:
    """The share of tickets whose topic in `after` is their topic in `before`: each topic
    (with its unit centroid) is matched to the most similar one before, from `threshold`."""
    (old_topics, old_centroids), (new_topics, new_centroids) = before, after
    old = sorted(t for t in old_centroids if t != -1)
    matrix = np.vstack([old_centroids[t] for t in old])
    match = {-1: -1}
    for topic, centroid in new_centroids.items():
        if topic == -1:
            continue
        similarity = matrix @ centroid
        best = int(similarity.argmax())
        match[topic] = old[best] if similarity[best] >= threshold else -2
    moved = np.array([match[int(t)] for t in new_topics]) != old_topics
    return float(1.0 - moved.mean())


def main() -> int:
    from sklearn.metrics import normalized_mutual_info_score

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--collections", nargs="+", choices=sorted(tq.COLLECTIONS), default=tq.FULL)
    parser.add_argument("--profiles", nargs="+", default=["default", "fast"])
    parser.add_argument("--min-samples", nargs="+", type=int, default=[0, 10, 5])
    parser.add_argument("--merges", nargs="+", type=float, default=[0, 0.3])
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 1, 2])
    parser.add_argument("--data", type=Path, default=tq.ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    # (profile, min_samples, merge) -> collection -> [(nmi, topics, keep)], seed by seed
    scores: dict[tuple[str, int, float], dict[str, list[tuple[float, int, float]]]] = {}
    spread: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="granularity-") as tmp:
        for name in args.collections:
            for profile in args.profiles:
                config, _, vectors, words, fine = umap_layout.prepared(
                    tq.COLLECTIONS[name], profile, args.data, Path(tmp) / f"{name}-{profile}"
                )
                clustering = vectors if words is None else words
                spread[(name, profile)] = typical_distance(vectors, config.topics.seed)
                min_topic_size = config.topics.min_topic_size or max(10, round(0.01 * len(vectors)))
                # (min_samples, merge) -> the first seed's topics and centroids
                first: dict[tuple[int, float], tuple[np.ndarray, dict[int, np.ndarray]]] = {}
                for seed in args.seeds:
                    topics = config.topics.model_copy(update={"seed": seed})
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        layout = layout_model(clustering, topics).fit_transform(clustering)
                    for min_samples in args.min_samples:
                        hdbscan = clustering_model(
                            topics.model_copy(update={"min_samples": min_samples}), min_topic_size
                        )
                        found = np.asarray(hdbscan.fit_predict(layout), dtype=np.int64)
                        for merge in args.merges:
                            merged = merge_close_topics(found, vectors, merge, seed=seed)
                            result = umap_layout.outlier_policy(
                                merged, vectors, words, topics.outlier_threshold
                            )
                            assigned = result[0]
                            start = first.setdefault((min_samples, merge), result)
                            scores.setdefault((profile, min_samples, merge), {}).setdefault(
                                name, []
                            ).append(
                                (
                                    float(normalized_mutual_info_score(fine, assigned)),
                                    len(set(assigned.tolist()) - {-1}),
                                    kept(start, result, topics.match_threshold),
                                )
                            )
                print(f"  {name} / {profile}: {len(vectors):,} tickets done", flush=True)
    print(
        "\nissue NMI / topics / tickets kept from the first seed, means over seeds "
        + ", ".join(map(str, args.seeds))
    )
    print(
        "\n"
        + umap_layout.table_header(["profile", "min_samples", "merge", *args.collections, "mean"])
    )
    for (profile, min_samples, merge), by_name in scores.items():
        cells, means = [], []
        for name in args.collections:
            runs = np.array(by_name[name])
            keep = runs[1:, 2].mean() if len(runs) > 1 else float("nan")
            cells.append(f"{runs[:, 0].mean():.3f} / {runs[:, 1].mean():.0f} / {keep:.3f}")
            means.append(runs[:, 0].mean())
        print(
            f"| {profile} | {min_samples} | {merge} | "
            + " | ".join(cells)
            + f" | {np.mean(means):.3f} |"
        )
    print("\nmedian cosine distance between two tickets")
    for (name, profile), value in spread.items():
        print(f"  {name} / {profile}: {value:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
