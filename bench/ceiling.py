"""What the embedding allows: k-means told the true number of labels, and the labels' own
centroids, on every labelled collection, beside which the topic stage's figures can be read.

Usage: .venv/bin/python bench/ceiling.py [--collections hwu64-30 ...] [--profiles default fast]
           [--seeds 0 1 2] [--data DIR]

Each collection of `bench/topics_quality.py` is ingested, prepared and embedded once per
profile (`bench/umap_layout.prepared`), and its tickets are read in the space the topic stage
clusters them in (the embedding, with the words beside it where the profile adds them),
as unit rows. Two figures per label level (the fine labels; the coarse ones where the
collection has them), as NMI against that level:
- k-means with as many clusters as the level has labels, the mean over `--seeds`: a
  clustering that is told the answer's size, which the topic stage never is;
- each ticket to the nearest centroid of the labels' own tickets: how far the labels are
  separable at all by similarity in this space (a classifier that has seen every label).
Neither is reachable by an unsupervised topic model; the first is what a clustering of this
embedding reaches with one piece of the answer given, and where the topic stage's issue NMI
(`bench/topics_quality.py`) is already as high, a higher figure needs another embedding.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import topics_quality as tq  # sets up the offline environment and the paths
import umap_layout

from persona_mining import warehouse as db
from persona_mining.topics.clustering import _centroids


def coarse_labels(workdir: Path, collection: tq.Collection, fine: list[str]) -> list[str] | None:
    """The coarse label of each ticket, from its fine label (every fine label lies within one
    coarse label in these collections); None where the collection has no coarse level."""
    if collection.coarse is None:
        return None
    con = db.connect(workdir / "bench.duckdb", read_only=True)
    try:
        pairs = con.execute(
            f"SELECT DISTINCT {db.quote_identifier(collection.fine)}::VARCHAR, "
            f"{db.quote_identifier(collection.coarse)}::VARCHAR FROM tickets"
        ).fetchall()
    finally:
        con.close()
    within = dict(pairs)
    if len(within) != len(pairs):
        raise SystemExit(f"{collection.name}: a fine label lies in two coarse labels")
    return [within[label] for label in fine]


def bounds(space: np.ndarray, labels: list[str], seeds: list[int]) -> tuple[int, float, float]:
    """The number of labels, k-means' NMI told that number (mean over `seeds`), and the NMI
    of each row's nearest label centroid."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    values, codes = np.unique(np.asarray(labels), return_inverse=True)
    kmeans = [
        normalized_mutual_info_score(
            codes, KMeans(len(values), n_init=3, random_state=seed).fit_predict(space)
        )
        for seed in seeds
    ]
    by_label = _centroids(codes, space)  # unit centroids, codes 0..n-1
    nearest = (space @ np.vstack([by_label[c] for c in range(len(values))]).T).argmax(axis=1)
    return len(values), float(np.mean(kmeans)), float(normalized_mutual_info_score(codes, nearest))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--collections", nargs="+", choices=sorted(tq.COLLECTIONS), default=[*tq.FULL, "demo-400"]
    )
    parser.add_argument("--profiles", nargs="+", default=["default", "fast"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--data", type=Path, default=tq.ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory(prefix="ceiling-") as tmp:
        for profile in args.profiles:
            for name in args.collections:
                collection = tq.COLLECTIONS[name]
                workdir = Path(tmp) / f"{name}-{profile}"
                _, _, vectors, words, fine = umap_layout.prepared(
                    collection, profile, args.data, workdir
                )
                space = vectors if words is None else words
                space = space / np.maximum(np.linalg.norm(space, axis=1, keepdims=True), 1e-12)
                cells = []
                for labels in (fine, coarse_labels(workdir, collection, fine)):
                    if labels is None:
                        cells.append("- | - | -")
                        continue
                    count, kmeans, nearest = bounds(space, labels, args.seeds)
                    cells.append(f"{count} | {kmeans:.3f} | {nearest:.3f}")
                lines.append(f"| {collection.title} | {profile} | " + " | ".join(cells) + " |")
                print(f"  {name} / {profile}: {len(fine):,} tickets done", flush=True)
    print(
        "\n"
        + umap_layout.table_header(
            [
                "collection",
                "profile",
                "fine labels",
                "k-means, told their number",
                "nearest label centroid",
                "coarse labels",
                "k-means, told their number",
                "nearest label centroid",
            ]
        )
    )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
