"""UMAP's seeded layout in one part (umap-learn's own) and in parts on every core, on every
labelled collection.

Usage: .venv/bin/python bench/layout_parts.py [--collections hwu64 ...] [--profiles default fast]
           [--parts 1 16] [--seeds 42 1 2] [--data DIR]

Each collection of `bench/topics_quality.py` is ingested, prepared and embedded once per
profile (as `bench/umap_layout.py` does); then the product's own clustering
(`topics.clustering.fit_bertopic` on the vectors the topic stage clusters, with the minimum
topic size the stage starts from, then the outlier policy as `fit_topics` applies it) runs
for each number of parts (`[topics] layout_parts`; one part is umap-learn's own layout, on
one thread) and seed. Every ticket is clustered (no fit sample), no
labels. It prints, per setting, the issue NMI against the fine labels (unclustered tickets
count as one cluster), the coverage and the topic count, as means over the seeds with the
lowest and highest NMI, and the seconds of the layouts alone and of the clusterings.
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
import umap_layout

from persona_mining.topics import layout
from persona_mining.topics.clustering import fit_bertopic


def main() -> int:
    from sklearn.metrics import normalized_mutual_info_score

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--collections", nargs="+", choices=sorted(tq.COLLECTIONS), default=tq.FULL)
    parser.add_argument("--profiles", nargs="+", default=["default", "fast"])
    parser.add_argument("--parts", nargs="+", type=int, default=[1, layout.PARTS])
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 1, 2])
    parser.add_argument("--data", type=Path, default=tq.ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    # (profile, parts) -> collection -> [(nmi, coverage, topics)]; seconds of layouts, fits
    scores: dict[tuple[str, int], dict[str, list[tuple[float, float, int]]]] = {}
    seconds: dict[tuple[str, int], list[tuple[float, float]]] = {}
    optimize = layout.optimize_layout
    spent = [0.0]

    def timed_optimize(*pos, **kw):
        started = time.perf_counter()
        try:
            return optimize(*pos, **kw)
        finally:
            spent[0] += time.perf_counter() - started

    layout.optimize_layout = timed_optimize
    with tempfile.TemporaryDirectory(prefix="layout-parts-") as tmp:
        for name in args.collections:
            collection = tq.COLLECTIONS[name]
            for profile in args.profiles:
                config, texts, vectors, words, fine = umap_layout.prepared(
                    collection, profile, args.data, Path(tmp) / f"{name}-{profile}"
                )
                clustering = vectors if words is None else words
                min_topic_size = config.topics.min_topic_size or max(10, round(0.01 * len(texts)))
                threshold = config.topics.outlier_threshold
                for parts in args.parts:
                    for seed in args.seeds:
                        topics = config.topics.model_copy(
                            update={"seed": seed, "layout_parts": parts}
                        )
                        spent[0] = 0.0
                        started = time.perf_counter()
                        _, clustered = fit_bertopic(texts, clustering, topics, min_topic_size)
                        seconds.setdefault((profile, parts), []).append(
                            (spent[0], time.perf_counter() - started)
                        )
                        assigned, _ = umap_layout.outlier_policy(
                            clustered, vectors, words, threshold
                        )
                        scores.setdefault((profile, parts), {}).setdefault(name, []).append(
                            (
                                float(normalized_mutual_info_score(fine, assigned)),
                                float((assigned != -1).mean()),
                                len(set(assigned.tolist()) - {-1}),
                            )
                        )
                print(f"  {name} / {profile}: {len(texts):,} tickets done", flush=True)
    seeds = ", ".join(map(str, args.seeds))
    print(f"\nissue NMI (lowest-highest) / coverage / topics, means over seeds {seeds}")
    print(
        "\n"
        + umap_layout.table_header(
            ["profile", "parts", *args.collections, "layout s, all", "clustering s, all"]
        )
    )
    for (profile, parts), by_name in scores.items():
        cells = []
        for name in args.collections:
            runs = np.array(by_name[name])
            cells.append(
                f"{runs[:, 0].mean():.3f} ({runs[:, 0].min():.3f}-{runs[:, 0].max():.3f}) / "
                f"{runs[:, 1].mean():.2f} / {runs[:, 2].mean():.0f}"
            )
        spent_layout, spent_fit = np.array(seconds[(profile, parts)]).sum(axis=0)
        print(
            f"| {profile} | {parts} | "
            + " | ".join(cells)
            + f" | {spent_layout:.0f} | {spent_fit:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
