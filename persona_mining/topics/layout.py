"""UMAP's layout optimised on every core, with the same result on any machine and core count.

umap-learn runs its layout (the stochastic gradient descent that places each ticket in the
low-dimensional space HDBSCAN clusters) on one thread when it is given a seed: its parallel
version lets threads update the same points in whatever order they happen to run, so two runs
differ. Here each epoch splits the points into a set number of parts (`[topics] layout_parts`,
never the number of cores). A part moves its own points at once, as umap-learn does, and reads the
others' points as they were at the start of the epoch; what it would move in another part's
points is added up and applied after the epoch, part by part in a fixed order. No part reads
what another writes in the same epoch, so the layout depends on the seed and the data alone.

The parts are boxes of the initial (spectral) layout, so that about half of a point's
neighbours share its part. Everything else is umap-learn's: the graph, the spectral
initialisation, the sampling of edges by their weight, the negative samples and the learning
rate's decay (`umap.umap_.simplicial_set_embedding`, `umap.layouts.optimize_layout_euclidean`).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from umap import UMAP
from umap.layouts import clip, rdist
from umap.utils import tau_rand_int

#: Parts of the points per epoch where none is set: the most cores the layout can use. Set, not
#: counted, so that the layout is the same whatever the machine's core count.
PARTS = 16


@numba.njit(parallel=True, fastmath=True, cache=True)
def _epoch(
    embedding,
    start,
    moves,
    part_of,
    position,
    part_edges,
    head,
    tail,
    epochs_per_sample,
    epochs_per_negative_sample,
    epoch_of_next_sample,
    epoch_of_next_negative_sample,
    rng_state,
    a,
    b,
    gamma,
    alpha,
    n,
):  # pragma: no cover - compiled by numba; tested through `optimize_layout`
    """One epoch of umap-learn's layout; each part moves its own points (see the module)."""
    dim = embedding.shape[1]
    n_vertices = embedding.shape[0]
    for part in numba.prange(part_edges.shape[0] - 1):
        for i in range(part_edges[part], part_edges[part + 1]):
            if epoch_of_next_sample[i] > n:
                continue
            j = head[i]
            k = tail[i]
            current = embedding[j]
            own = part_of[k] == part
            other = embedding[k] if own else start[k]
            dist_squared = rdist(current, other)
            grad_coeff = 0.0
            if dist_squared > 0.0:
                grad_coeff = -2.0 * a * b * pow(dist_squared, b - 1.0)
                grad_coeff /= a * pow(dist_squared, b) + 1.0
            for d in range(dim):
                grad_d = clip(grad_coeff * (current[d] - other[d]))
                current[d] += grad_d * alpha
                if own:
                    other[d] += -grad_d * alpha
                else:
                    moves[part, k, d] += -grad_d * alpha
            epoch_of_next_sample[i] += epochs_per_sample[i]

            n_neg_samples = int(
                (n - epoch_of_next_negative_sample[i]) / epochs_per_negative_sample[i]
            )
            for _ in range(n_neg_samples):
                # Drawn as umap-learn draws it, among the points in their original order.
                k = position[tau_rand_int(rng_state[j]) % n_vertices]
                if k == j:
                    continue
                other = embedding[k] if part_of[k] == part else start[k]
                dist_squared = rdist(current, other)
                if dist_squared <= 0.0:
                    continue
                grad_coeff = 2.0 * gamma * b
                grad_coeff /= (0.001 + dist_squared) * (a * pow(dist_squared, b) + 1.0)
                for d in range(dim):
                    current[d] += clip(grad_coeff * (current[d] - other[d])) * alpha
            epoch_of_next_negative_sample[i] += n_neg_samples * epochs_per_negative_sample[i]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _apply_moves(embedding, start, moves):  # pragma: no cover - compiled by numba
    """Add each part's moves of other parts' points, in part order; the next epoch's start."""
    for v in numba.prange(embedding.shape[0]):
        for part in range(moves.shape[0]):
            for d in range(embedding.shape[1]):
                embedding[v, d] += moves[part, v, d]
                moves[part, v, d] = 0.0
        for d in range(embedding.shape[1]):
            start[v, d] = embedding[v, d]


def _bisect(points: np.ndarray, work: np.ndarray, parts: int) -> np.ndarray:
    """The part of each point: `parts` boxes of about equal `work`, each cut in two along its
    widest axis where the work is halved (recursive coordinate bisection)."""
    part_of = np.zeros(len(points), dtype=np.int64)
    pending = [(np.arange(len(points)), 0, parts)]
    while pending:
        members, first, count = pending.pop()
        if count == 1 or len(members) == 0:
            part_of[members] = first
            continue
        held = points[members]
        axis = int(np.argmax(held.max(axis=0) - held.min(axis=0)))
        members = members[np.argsort(held[:, axis], kind="stable")]
        half = count // 2
        done = np.cumsum(work[members])
        cut = int(np.searchsorted(done, done[-1] * half / count))
        pending.append((members[:cut], first, half))
        pending.append((members[cut:], first + half, count - half))
    return part_of


def optimize_layout(
    embedding: np.ndarray,
    head: np.ndarray,
    tail: np.ndarray,
    epochs_per_sample: np.ndarray,
    *,
    n_epochs: int,
    a: float,
    b: float,
    rng_state: np.ndarray,
    gamma: float = 1.0,
    initial_alpha: float = 1.0,
    negative_sample_rate: float = 5.0,
    parts: int = PARTS,
) -> np.ndarray:
    """umap-learn's `optimize_layout_euclidean` (a fit: both ends of an edge move), in parts.

    `embedding` (points x components) is the initial layout; `head`, `tail` and
    `epochs_per_sample` are the graph's edges and how often each is sampled; `rng_state` is
    umap-learn's three-integer state, from the seeded random state. With `parts` = 1 the
    result is umap-learn's own, bit for bit.
    """
    n_vertices = embedding.shape[0]
    parts = max(1, min(parts, n_vertices))
    # Parts of about equal work (the edges sampled per epoch whose head they hold), cut from the
    # initial layout, so that most of a point's neighbours share its part (`_bisect`). The
    # points are laid out in memory part by part, so that no two parts write to the same cache
    # line; a part's edges are those whose head it holds, in umap-learn's order within it.
    work = np.bincount(head, weights=1.0 / epochs_per_sample, minlength=n_vertices)
    part_of = _bisect(embedding, work, parts)
    order = np.argsort(part_of, kind="stable")
    part_of = part_of[order]
    position = np.empty(n_vertices, dtype=np.int64)
    position[order] = np.arange(n_vertices)
    head, tail = position[head], position[tail]
    by_part = np.argsort(part_of[head], kind="stable")
    head = np.ascontiguousarray(head[by_part])
    tail = np.ascontiguousarray(tail[by_part])
    epochs_per_sample = np.ascontiguousarray(epochs_per_sample[by_part], dtype=np.float64)
    part_edges = np.searchsorted(part_of[head], np.arange(parts + 1)).astype(np.int64)
    laid = np.ascontiguousarray(embedding[order], dtype=np.float32)

    epochs_per_negative_sample = epochs_per_sample / negative_sample_rate
    epoch_of_next_negative_sample = epochs_per_negative_sample.copy()
    epoch_of_next_sample = epochs_per_sample.copy()
    # One random state per point, as umap-learn derives them.
    rng_states = np.full((n_vertices, len(rng_state)), rng_state, dtype=np.int64) + laid[
        :, 0
    ].astype(np.float64).view(np.int64).reshape(-1, 1)
    start = laid.copy()
    moves = np.zeros((parts, n_vertices, laid.shape[1]), dtype=np.float32)
    alpha = initial_alpha
    for n in range(n_epochs):
        _epoch(
            laid,
            start,
            moves,
            part_of,
            position,
            part_edges,
            head,
            tail,
            epochs_per_sample,
            epochs_per_negative_sample,
            epoch_of_next_sample,
            epoch_of_next_negative_sample,
            rng_states,
            float(a),
            float(b),
            float(gamma),
            float(alpha),
            float(n),
        )
        _apply_moves(laid, start, moves)
        alpha = initial_alpha * (1.0 - float(n) / float(n_epochs))
    embedding = np.empty_like(laid)
    embedding[order] = laid
    return embedding


def embed_graph(
    data: np.ndarray,
    graph: Any,
    *,
    n_components: int,
    n_epochs: int | None,
    a: float,
    b: float,
    gamma: float,
    initial_alpha: float,
    negative_sample_rate: float,
    random_state: np.random.RandomState,
    metric: Any,
    metric_kwds: dict[str, Any],
    parts: int = PARTS,
) -> np.ndarray:
    """umap-learn's `simplicial_set_embedding` for a spectral start and a Euclidean layout,
    optimised by `optimize_layout`."""
    from umap.spectral import spectral_layout
    from umap.umap_ import INT32_MAX, INT32_MIN, make_epochs_per_sample, noisy_scale_coords

    graph = graph.tocoo()
    graph.sum_duplicates()
    default_epochs = 500 if graph.shape[0] <= 10_000 else 200
    n_epochs = n_epochs or default_epochs
    # Edges too weak to be sampled once in the run are dropped, as umap-learn does.
    graph.data[
        graph.data < (graph.data.max() / float(n_epochs if n_epochs > 10 else default_epochs))
    ] = 0.0
    graph.eliminate_zeros()
    embedding = spectral_layout(
        data, graph, n_components, random_state, metric=metric, metric_kwds=metric_kwds
    )
    embedding = noisy_scale_coords(embedding, random_state, max_coord=10, noise=0.0001)
    epochs_per_sample = make_epochs_per_sample(graph.data, n_epochs)
    rng_state = random_state.randint(INT32_MIN, INT32_MAX, 3).astype(np.int64)
    low, high = np.min(embedding, 0), np.max(embedding, 0)
    embedding = (10.0 * (embedding - low) / (high - low)).astype(np.float32, order="C")
    return optimize_layout(
        embedding,
        graph.row,
        graph.col,
        epochs_per_sample,
        n_epochs=n_epochs,
        a=a,
        b=b,
        rng_state=rng_state,
        gamma=gamma,
        initial_alpha=initial_alpha,
        negative_sample_rate=negative_sample_rate,
        parts=parts,
    )


class PartedUMAP(UMAP):
    """UMAP whose seeded fit lays the points out on every core (`optimize_layout`).

    Only a fit from a spectral start into a Euclidean space, without densMAP, is laid out so
    (what the topic stage asks for); anything else is umap-learn's own layout.
    """

    parts = PARTS

    def _fit_embed_data(self, X, n_epochs, init, random_state, **kwargs):
        plain = (
            isinstance(init, str)
            and init == "spectral"
            and not self.densmap
            and not self.output_dens
            and self.output_metric in ("euclidean", "l2")
            and not isinstance(n_epochs, list)
        )
        if not plain:
            return super()._fit_embed_data(X, n_epochs, init, random_state, **kwargs)
        # A seed makes umap-learn's fit use one of numba's threads; the layout takes as many
        # as there were before the fit (`NUMBA_NUM_THREADS` caps them).
        threads = numba.get_num_threads()
        numba.set_num_threads(getattr(self, "_original_n_threads", numba.config.NUMBA_NUM_THREADS))
        try:
            embedding = self._laid_out(X, n_epochs, random_state)
        finally:
            numba.set_num_threads(threads)
        return embedding, {}

    def _laid_out(self, X, n_epochs, random_state) -> np.ndarray:
        return embed_graph(
            X,
            self.graph_,
            n_components=self.n_components,
            n_epochs=n_epochs,
            a=self._a,
            b=self._b,
            gamma=self.repulsion_strength,
            initial_alpha=self._initial_alpha,
            negative_sample_rate=self.negative_sample_rate,
            random_state=random_state,
            metric=self._input_distance_func,
            metric_kwds=self._metric_kwds,
            parts=self.parts,
        )
