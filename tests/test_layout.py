"""UMAP's seeded layout on every core (`persona_mining.topics.layout`)."""

from __future__ import annotations

import warnings

import numba
import numpy as np
import pytest
from scipy import sparse
from sklearn.metrics import normalized_mutual_info_score
from umap import UMAP
from umap.layouts import optimize_layout_euclidean
from umap.umap_ import find_ab_params, make_epochs_per_sample

from persona_mining.topics.layout import PartedUMAP, optimize_layout


def _graph(n: int = 400, k: int = 8, seed: int = 3):
    """A symmetric weighted graph of `n` points, `k` random neighbours each, and a start."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), k)
    cols = rng.integers(0, n, n * k)
    keep = rows != cols
    graph = sparse.coo_matrix(
        (rng.random(keep.sum()).astype(np.float32), (rows[keep], cols[keep])), shape=(n, n)
    ).tocsr()
    graph = graph.maximum(graph.T).tocoo()
    graph.sum_duplicates()
    start = (rng.random((n, 3)) * 10).astype(np.float32)
    return graph, start, make_epochs_per_sample(graph.data, 60)


def _parted(graph, start, epochs_per_sample, parts: int) -> np.ndarray:
    a, b = find_ab_params(1.0, 0.0)
    return optimize_layout(
        start.copy(),
        graph.row,
        graph.col,
        epochs_per_sample,
        n_epochs=60,
        a=a,
        b=b,
        rng_state=np.array([11, 22, 33], dtype=np.int64),
        parts=parts,
    )


def test_the_layout_is_the_same_on_one_thread_as_on_several():
    graph, start, epochs_per_sample = _graph()
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _parted(graph, start, epochs_per_sample, parts=16)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        several = _parted(graph, start, epochs_per_sample, parts=16)
    finally:
        numba.set_num_threads(threads)
    assert np.array_equal(one, several)
    # In parts, the points are not moved as in one pass: another layout, not a copy.
    assert not np.array_equal(one, _parted(graph, start, epochs_per_sample, parts=1))
    # umap-learn's own, for the same graph, start and random state.
    a, b = find_ab_params(1.0, 0.0)
    theirs = start.copy()
    optimize_layout_euclidean(
        theirs,
        theirs,
        graph.row,
        graph.col,
        60,
        graph.shape[0],
        epochs_per_sample,
        a,
        b,
        np.array([11, 22, 33], dtype=np.int64),
        move_other=True,
    )
    assert np.array_equal(_parted(graph, start, epochs_per_sample, parts=1), theirs)


def _blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Six well-separated groups of 80 unit vectors in 20 dimensions."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, 20))
    labels = np.repeat(np.arange(6), 80)
    vectors = centres[labels] + rng.normal(scale=0.25, size=(len(labels), 20))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True), labels


def _fit(model_class, vectors: np.ndarray, y: np.ndarray | None = None, **kwargs) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = model_class(
            n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=7, **kwargs
        )
        return model.fit_transform(vectors, y=y)


def test_a_seeded_fit_keeps_the_groups_apart_and_repeats_itself():
    from hdbscan import HDBSCAN

    vectors, labels = _blobs()
    layout = _fit(PartedUMAP, vectors)
    assert layout.shape == (len(vectors), 5)
    assert np.isfinite(layout).all()
    found = HDBSCAN(min_cluster_size=20).fit_predict(layout)
    assert normalized_mutual_info_score(labels, found) > 0.95
    assert np.array_equal(layout, _fit(PartedUMAP, vectors))


class _Observed(PartedUMAP):
    """The real layout, which notes how many of numba's threads it was given."""

    def _laid_out(self, X, n_epochs, random_state):
        self.threads = numba.get_num_threads()
        return super()._laid_out(X, n_epochs, random_state)


def test_the_layout_takes_every_thread_that_a_seeded_fit_keeps_from_it():
    vectors, _ = _blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = _Observed(
            n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=7
        )
        model.fit(vectors)
    # umap-learn sets numba to one thread for the whole of a seeded fit.
    assert model.threads == numba.config.NUMBA_NUM_THREADS
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS


class _OnePart(PartedUMAP):
    parts = 1


@pytest.mark.parametrize("guided", [False, True])
def test_in_one_part_a_seeded_fit_is_umap_learns_own_bit_for_bit(guided):
    vectors, labels = _blobs(1)
    # A refit's guide: the previous topics, some tickets without one.
    guide = np.where(np.arange(len(labels)) % 3 == 0, -1, labels) if guided else None
    kwargs = {"target_weight": 0.5, "y": guide} if guided else {}
    theirs = _fit(UMAP, vectors, **kwargs)
    assert np.array_equal(_fit(_OnePart, vectors, **kwargs), theirs)
    assert not np.array_equal(_fit(PartedUMAP, vectors, **kwargs), theirs)


def test_what_the_parts_do_not_cover_is_umap_learns_own_layout():
    vectors, _ = _blobs(2)
    assert np.array_equal(
        _fit(PartedUMAP, vectors, init="random"), _fit(UMAP, vectors, init="random")
    )


def test_the_config_chooses_the_layout():
    from persona_mining.config import load_config
    from persona_mining.topics.clustering import layout_model

    vectors, _ = _blobs()
    for profile in ("default", "fast"):
        topics = load_config(profile=profile).topics
        assert topics.layout_parts == 1
        assert type(layout_model(vectors, topics)) is UMAP
    model = layout_model(vectors, load_config().topics.model_copy(update={"layout_parts": 16}))
    assert isinstance(model, PartedUMAP)
    assert model.parts == 16


def _with_a_repeated_text(n: int = 300, repeats: int = 12) -> np.ndarray:
    """Unit vectors of three groups of tickets and `repeats` tickets with one and the same text
    (and so the same vector), which form a part of the neighbour graph of their own."""
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(3, 16))
    rows = centres[rng.integers(0, 3, n)] + 0.3 * rng.normal(size=(n, 16))
    rows = np.vstack([rows, np.repeat(rng.normal(size=(1, 16)), repeats, axis=0)])
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_the_spectral_start_is_the_same_every_time_where_tickets_repeat_a_text():
    from umap import spectral

    from persona_mining.config import load_config
    from persona_mining.topics.clustering import layout_model, steady_spectral_start

    config = load_config().topics.model_copy(update={"n_neighbors": 10, "umap_epochs": 20})
    vectors = _with_a_repeated_text()
    layouts = [layout_model(vectors, config).fit_transform(vectors) for _ in range(4)]
    assert all(np.array_equal(layouts[0], other) for other in layouts[1:])

    # The repeated text's part: its Laplacian repeats an eigenvalue, and ARPACK's eigenvectors
    # for it differed from one call to the next (10 to 16 such tickets, scipy 1.17).
    clique = sparse.csr_matrix(np.ones((12, 12)) - np.eye(12))
    starts = [spectral.spectral_layout(None, clique, 5, np.random.RandomState(0)) for _ in range(4)]
    assert all(np.array_equal(starts[0], other) for other in starts[1:])
    # Its columns are orthonormal eigenvectors of the Laplacian that are not the constant one.
    laplacian = np.eye(12) - clique.toarray() / 11
    assert np.allclose(laplacian @ starts[0], starts[0] * (12 / 11))
    assert np.allclose(starts[0].T @ starts[0], np.eye(5))

    # A graph whose eigenvalues are distinct keeps umap-learn's own start, bit for bit.
    steady_spectral_start()
    graph, _, _ = _graph(n=200)
    ours = spectral._spectral_layout(None, graph, 3, np.random.RandomState(0))
    theirs = spectral._spectral_layout.__wrapped__(None, graph, 3, np.random.RandomState(0))
    assert np.array_equal(ours, theirs)
