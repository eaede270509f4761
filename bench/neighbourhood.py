"""The UMAP neighbourhood of the issues: the first layout (`n_neighbors`), the narrower one
(`narrow_neighbors`), and the product's choice between them, on every labelled collection.

Usage: .venv/bin/python bench/neighbourhood.py [--collections hwu64-30 ...] [--profiles default fast]
           [--seeds 42 1 2 3 4 5] [--data DIR]

Each collection of `bench/topics_quality.py` is ingested, prepared and embedded once per
profile (`bench/umap_layout.prepared`). For each seed both layouts are fitted, and on each the
topic stage's issues are made as `fit_topics` makes them (HDBSCAN at the first minimum topic
size, `smaller_topics`, `split_folded` where the profile splits, the merge of close topics,
the outlier policy). "chosen" is the product's choice for that seed: the narrower layout where
the first one's topics are small (`narrower_worth_trying`) and more of the tickets use their
topic's most used word on it once the outlier policy has run (`topics.model.shared_words`).
Every ticket is clustered (no fit sample), no known issues. It prints, per profile and
collection, the issue NMI against the fine labels (unclustered tickets count as one cluster)
and the topic count as means over the seeds, the share of the tickets that keep their topic
from one seed to another (`split_folded.keyed_keep`: the mean and the least over every pair of
seeds), and how many seeds chose the narrower layout.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import split_folded as sf
import topics_quality as tq  # sets up the offline environment and the paths
import umap_layout

from persona_mining.text.pii import PLACEHOLDER_RE
from persona_mining.topics.clustering import (
    SMALLEST_TOPIC,
    clustering_model,
    fit_layout,
    merge_close_topics,
    narrower_worth_trying,
    word_use,
)
from persona_mining.topics.model import _issues, shared_words


def main() -> int:
    from sklearn.metrics import normalized_mutual_info_score

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--collections", nargs="+", choices=sorted(tq.COLLECTIONS), default=tq.FULL)
    parser.add_argument("--profiles", nargs="+", default=["default", "fast"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[42, 1, 2, 3, 4, 5])
    parser.add_argument("--data", type=Path, default=tq.ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory(prefix="neighbourhood-") as tmp:
        for profile in args.profiles:
            for name in args.collections:
                config, texts, vectors, words, fine = umap_layout.prepared(
                    tq.COLLECTIONS[name], profile, args.data, Path(tmp) / f"{name}-{profile}"
                )
                used = word_use([PLACEHOLDER_RE.sub(" ", t) for t in texts])
                clustering = vectors if words is None else words
                first_size = max(SMALLEST_TOPIC, round(0.01 * len(vectors)))
                runs: dict[str, list[tuple[np.ndarray, dict[int, np.ndarray]]]] = {}
                narrower = 0
                for seed in args.seeds:
                    topics = config.topics.model_copy(update={"seed": seed})
                    narrow = topics.model_copy(update={"n_neighbors": topics.narrow_neighbors})
                    made = {}
                    for key, layout_config in (("first", topics), ("narrow", narrow)):
                        layout = fit_layout(clustering, layout_config)
                        found = np.asarray(
                            clustering_model(layout_config, first_size).fit_predict(layout),
                            dtype=np.int64,
                        )
                        issues, _ = _issues(
                            layout, found, vectors, used, layout_config, first_size, None
                        )
                        made[key] = merge_close_topics(
                            issues, vectors, topics.merge_distance, seed=seed
                        )
                    share = {
                        key: shared_words(made[key], words, vectors, used, topics.outlier_threshold)
                        for key in made
                    }
                    take = (
                        narrower_worth_trying(made["first"], topics)
                        and share["narrow"] > share["first"]
                    )
                    narrower += take
                    made["chosen"] = made["narrow" if take else "first"]
                    for key, clustered in made.items():
                        runs.setdefault(key, []).append(
                            umap_layout.outlier_policy(
                                clustered, vectors, words, topics.outlier_threshold
                            )
                        )
                cells = []
                for key in ("first", "narrow", "chosen"):
                    nmi = np.mean([normalized_mutual_info_score(fine, a) for a, _ in runs[key]])
                    count = np.mean([len(set(a.tolist()) - {-1}) for a, _ in runs[key]])
                    keeps = [
                        sf.keyed_keep(a, b, config.topics.match_threshold)
                        for a, b in itertools.combinations(runs[key], 2)
                    ]
                    keep = f"{np.mean(keeps):.3f} ({min(keeps):.2f})" if keeps else "-"
                    cells.append(f"{nmi:.3f} / {count:.0f} / {keep}")
                lines.append(
                    f"| {name} | {profile} | "
                    + " | ".join(cells)
                    + f" | {narrower} of {len(args.seeds)} |"
                )
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
                "first layout",
                "narrower layout",
                "the product's choice",
                "narrower chosen",
            ]
        )
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
