"""Topics that fold distinct issues together, split or not: issue NMI and how well the topics
hold between seeds, on every labelled collection.

Usage: .venv/bin/python bench/split_folded.py [--collections hwu64 ...] [--profiles default fast]
           [--seeds 42 1 2 3 4 5] [--data DIR]

Each collection of `bench/topics_quality.py` is ingested, prepared and embedded once per
profile (`bench/umap_layout.prepared`); the product's UMAP layout is fitted once per seed, and
on it the topic stage's clustering runs as `fit_topics` runs it (HDBSCAN at the first minimum
topic size, `smaller_topics`, the merge of close topics, the outlier policy), once without the
tickets' words and once with them where the profile splits (`[topics] split_folded`):
`smaller_topics` then halves the size for issues folded into larger topics too, and
`split_folded` runs after it. Every ticket is clustered (no fit sample), no known issues. It
prints, per profile and collection, the issue NMI against the fine labels (unclustered tickets
count as one cluster) and the topic count as means over the seeds, and the share of the tickets
that keep their topic from one seed to another, the keys passed on as a refit passes them
(`topics.identity.match_topics`, from `match_threshold`); the mean and the least over every
pair of seeds. One refit in `bench/topics_quality.py` is one such draw; on small collections
the draws spread by several points.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import topics_quality as tq  # sets up the offline environment and the paths
import umap_layout

from persona_mining.text.pii import PLACEHOLDER_RE
from persona_mining.topics.clustering import (
    SMALLEST_TOPIC,
    clustering_model,
    finest_clustering,
    layout_model,
    merge_close_topics,
    smaller_topics,
    split_folded,
    word_use,
)
from persona_mining.topics.identity import UNCLUSTERED_KEY, PreviousTopic, match_topics
from persona_mining.topics.labels import UNCLUSTERED


def keyed_keep(
    before: tuple[np.ndarray, dict[int, np.ndarray]],
    after: tuple[np.ndarray, dict[int, np.ndarray]],
    threshold: float,
) -> float:
    """The share of tickets whose topic in `after` has the key of their topic in `before`,
    the keys passed on as a refit passes them (`identity.match_topics`)."""
    (old_topics, old_centroids), (new_topics, new_centroids) = before, after
    previous = [
        PreviousTopic(key=str(t), label="", first_model_id="before", centroid=c)
        for t, c in old_centroids.items()
        if t != UNCLUSTERED
    ]
    identities, _ = match_topics(
        new_centroids, previous, model_id="after", next_number=1, threshold=threshold
    )
    old_keys = np.array([UNCLUSTERED_KEY if t == UNCLUSTERED else str(t) for t in old_topics])
    new_keys = np.array([identities[int(t)].key for t in new_topics])
    return float((old_keys == new_keys).mean())


def main() -> int:
    from sklearn.metrics import normalized_mutual_info_score

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--collections", nargs="+", choices=sorted(tq.COLLECTIONS), default=tq.FULL)
    parser.add_argument("--profiles", nargs="+", default=["default", "fast"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 1, 2, 3, 4, 5])
    parser.add_argument("--data", type=Path, default=tq.ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory(prefix="split-folded-") as tmp:
        for profile in args.profiles:
            for name in args.collections:
                config, texts, vectors, words, fine = umap_layout.prepared(
                    tq.COLLECTIONS[name], profile, args.data, Path(tmp) / f"{name}-{profile}"
                )
                words_used = word_use([PLACEHOLDER_RE.sub(" ", t) for t in texts])
                clustering = vectors if words is None else words
                first_size = max(SMALLEST_TOPIC, round(0.01 * len(vectors)))
                # without the words or with them -> one (topics, centroids) per seed
                runs: dict[bool, list[tuple[np.ndarray, dict[int, np.ndarray]]]] = {}
                for seed in args.seeds:
                    topics = config.topics.model_copy(update={"seed": seed})
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        layout = layout_model(clustering, topics).fit_transform(clustering)
                    found = np.asarray(
                        clustering_model(topics, first_size).fit_predict(layout), dtype=np.int64
                    )
                    finest = finest_clustering(layout, topics)
                    for split in (False, True):
                        used = words_used if split and topics.split_folded else None
                        clustered, size = smaller_topics(
                            layout, vectors, found, topics, first_size, finest=finest, words=used
                        )
                        if used is not None:
                            clustered = split_folded(clustered, finest, used, size)
                        merged = merge_close_topics(clustered, vectors, topics.merge_distance, seed)
                        runs.setdefault(split, []).append(
                            umap_layout.outlier_policy(
                                merged, vectors, words, topics.outlier_threshold
                            )
                        )
                cells = []
                for split in (False, True):
                    nmi = np.mean([normalized_mutual_info_score(fine, a) for a, _ in runs[split]])
                    count = np.mean([len(set(a.tolist()) - {-1}) for a, _ in runs[split]])
                    keeps = [
                        keyed_keep(a, b, config.topics.match_threshold)
                        for a, b in itertools.combinations(runs[split], 2)
                    ]
                    keep = f"{np.mean(keeps):.3f} ({min(keeps):.2f})" if keeps else "-"
                    cells.append(f"{nmi:.3f} / {count:.0f} / {keep}")
                lines.append(f"| {name} | {profile} | " + " | ".join(cells) + " |")
                print(f"  {name} / {profile}: {len(vectors):,} tickets done", flush=True)
    print(
        "\nissue NMI / topics / tickets keeping their topic between two seeds (least), over seeds "
        + ", ".join(map(str, args.seeds))
    )
    print(
        "\n"
        + umap_layout.table_header(
            [
                "collection",
                "profile",
                "without the words",
                "with them: halving and split, where the profile splits",
            ]
        )
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
