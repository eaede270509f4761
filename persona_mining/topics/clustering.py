"""Clustering the embedded tickets with BERTopic: UMAP (exact neighbours where affordable),
HDBSCAN, c-TF-IDF keywords, and the outlier policy. No warehouse access: vectors in, topic ids
and a fitted BERTopic model out."""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

import numpy as np

from persona_mining.config import TopicsConfig
from persona_mining.errors import StageError
from persona_mining.topics.labels import UNCLUSTERED

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix


def vectorizer(n_docs: int):
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(
        ngram_range=(1, 2),
        stop_words="english",
        min_df=2 if n_docs >= 100 else 1,
        token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b",
    )


def import_bertopic() -> None:
    """Import BERTopic without the representation models that need transformers, unless
    transformers is loaded already.

    `bertopic.representation` imports `TextGeneration` and `ZeroShotClassification`, and with
    them transformers' pipelines: about 5 s in a process that has not loaded transformers, as
    the fast profile's does (its static model needs no transformers). BERTopic treats both as
    optional: a missing transformers leaves a placeholder that explains itself, and we use
    neither. `None` in `sys.modules` is Python's own way to make an import fail; it is removed
    again at once, so that a later `import transformers` in this process works as usual.
    """
    if "bertopic" in sys.modules or "transformers" in sys.modules:
        import bertopic

        return
    sys.modules["transformers"] = None  # type: ignore[assignment]
    try:
        import bertopic  # noqa: F401
    finally:
        if sys.modules.get("transformers", 0) is None:
            del sys.modules["transformers"]


def ctfidf():
    import_bertopic()
    from bertopic.vectorizers import ClassTfidfTransformer

    return ClassTfidfTransformer(reduce_frequent_words=True)


#: Up to this many tickets UMAP is given exact cosine neighbours (one matrix product per
#: block); beyond it, UMAP's own approximate search (NN-descent).
EXACT_NEIGHBOURS_MAX = 60_000


def exact_neighbours(
    vectors: np.ndarray, k: int, block: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """The `k` nearest rows of each row (itself first) by cosine, and their cosine distances.

    `vectors` are unit rows. Exact, deterministic, and on two cores several times faster than
    UMAP's own search: below 4,096 rows UMAP calls its distance function once per pair from
    Python, above it NN-descent runs on one thread when a seed is set. The top `k` of each
    block come from torch (already loaded by spaCy's thinc in a pipeline run; BERTopic no
    longer brings it in the fast profile), four times faster than numpy's partition at 20,000
    rows.
    """
    import torch

    n = len(vectors)
    indices = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float32)
    matrix = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
    for start in range(0, n, block):
        similarity = matrix[start : start + block] @ matrix.T
        rows = torch.arange(similarity.shape[0])
        similarity[rows, rows + start] = float("inf")  # itself first, whatever the rounding
        values, positions = similarity.topk(k, dim=1)
        top, top_similarity = positions.numpy(), values.numpy()
        # Equal similarities in index order, so that the neighbours never depend on the sort.
        order = np.lexsort((top, -top_similarity), axis=1)
        indices[start : start + block] = np.take_along_axis(top, order, axis=1)
        nearest = np.take_along_axis(top_similarity, order, axis=1)
        distances[start : start + block] = np.clip(1.0 - nearest, 0.0, 2.0)
    return indices, distances


def cache_umap_compilation() -> None:
    """Let numba keep UMAP's compiled layout code on disk (`NUMBA_CACHE_DIR`).

    umap-learn compiles its layout optimiser and fuzzy-set functions without `cache=True`,
    which costs about 10 s in every new process. Only dispatchers with a function of their
    own are cached: the parallel twin of the epoch function shares its Python function, and
    a shared cache entry could hand one the other's code.
    """
    import numba
    from numba.core.dispatcher import Dispatcher
    from umap import layouts, umap_

    for module in (layouts, umap_):
        for name, value in vars(module).items():
            if not isinstance(value, Dispatcher) or name.endswith("_parallel"):
                continue
            if getattr(value, "_cache", None).__class__.__name__ == "NullCache":
                # An unwritable cache only means compiling again.
                with suppress(numba.core.errors.NumbaError, RuntimeError, OSError):
                    value.enable_caching()


#: Connected parts of the neighbour graph up to this many tickets have their spectral start
#: checked for repeated eigenvalues (`steady_spectral_start`).
STEADY_SPECTRAL_MAX = 1_000
#: Eigenvalues of the normalized Laplacian closer than this are one repeated eigenvalue.
_EIGEN_TIE = 1e-6


def steady_spectral_start() -> None:
    """Make UMAP's spectral start the same in every process where the graph's eigenvectors are
    not unique.

    Tickets with the same text have the same vectors; ten or more of them form a part of the
    neighbour graph of their own, every ticket joined to every other at the same weight. Its
    Laplacian repeats one eigenvalue, so any basis of that eigenvalue's eigenvectors is a
    spectral layout, and ARPACK (`scipy.sparse.linalg.eigsh`, which umap-learn calls) returns
    another one in each call, seed or not: the topics of the same tickets came out different
    from one run to the next. Such a part (up to `STEADY_SPECTRAL_MAX` tickets, where a dense
    eigendecomposition costs little) is laid out from LAPACK's dense decomposition, which is
    the same for the same graph; every other graph keeps umap-learn's own start, bit for bit.
    """
    from umap import spectral

    original = spectral._spectral_layout
    if getattr(original, "_steady", False):
        return

    def steady(data, graph, dim, *args, **kwargs):
        from scipy.sparse.csgraph import connected_components

        n = graph.shape[0]
        k = dim + 1
        if k < n <= STEADY_SPECTRAL_MAX and connected_components(graph)[0] == 1:
            degree = np.asarray(graph.sum(axis=0), dtype=np.float64).ravel()
            scale = 1.0 / np.sqrt(degree)
            laplacian = np.eye(n) - scale[:, None] * graph.toarray() * scale[None, :]
            values, vectors = np.linalg.eigh(laplacian)
            if np.any(np.diff(values[: k + 1]) < _EIGEN_TIE):
                return vectors[:, 1:k]
        return original(data, graph, dim, *args, **kwargs)

    steady._steady = True  # type: ignore[attr-defined]
    steady.__wrapped__ = original  # type: ignore[attr-defined]
    spectral._spectral_layout = steady


def layout_model(vectors: np.ndarray, config: TopicsConfig):
    """The UMAP layout of `vectors` (unfitted): seeded, with exact neighbours where affordable;
    in `config.layout_parts` parts on every core (`topics.layout.PartedUMAP`) or, in one part,
    umap-learn's own.

    Fitted with a target (a refit's `guide`), it is UMAP's semi-supervised layout at
    `config.refit_guidance`; without one, that weight is unused."""
    from umap import UMAP

    from persona_mining.topics.layout import PartedUMAP

    cache_umap_compilation()
    steady_spectral_start()
    n_neighbors = min(config.n_neighbors, len(vectors) - 1)
    neighbours = (
        exact_neighbours(vectors, n_neighbors) if len(vectors) <= EXACT_NEIGHBOURS_MAX else None
    )
    settings = {
        "n_neighbors": n_neighbors,
        "n_components": config.n_components,
        "min_dist": 0.0,
        "metric": "cosine",
        "random_state": config.seed,
        "precomputed_knn": (*neighbours, None) if neighbours else (None, None, None),
        "n_epochs": config.umap_epochs or None,
        "negative_sample_rate": config.umap_negative_sample_rate,
        "target_weight": config.refit_guidance,
    }
    if config.layout_parts == 1:
        return UMAP(**settings)
    model = PartedUMAP(**settings)
    model.parts = config.layout_parts
    return model


def clustering_model(config: TopicsConfig, min_topic_size: int):
    """HDBSCAN on the layout (unfitted), topics of at least `min_topic_size` tickets."""
    from hdbscan import HDBSCAN

    return HDBSCAN(
        min_cluster_size=min_topic_size,
        min_samples=min(config.min_samples, min_topic_size) if config.min_samples else None,
        metric="euclidean",
        cluster_selection_method="eom",
        prediction_data=False,
    )


@contextmanager
def quiet_layout() -> Iterator[None]:
    """UMAP's warnings that say nothing to a user of the topic stage."""
    with warnings.catch_warnings():
        # UMAP says that a seed makes it single-threaded: that is the price of reproducibility.
        warnings.filterwarnings("ignore", message=".*n_jobs value 1 overridden.*")
        # With our own neighbours UMAP cannot transform new data; we never ask it to (new
        # tickets are assigned by centroid).
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")
        yield


def fit_layout(
    vectors: np.ndarray, config: TopicsConfig, guide: np.ndarray | None = None
) -> np.ndarray:
    """The UMAP layout of `vectors` (`layout_model`), outside BERTopic; with `guide` (a topic
    per ticket, -1 for none: `topics.model.previous_topics`), UMAP's semi-supervised one."""
    with quiet_layout():
        layout = layout_model(vectors, config).fit_transform(vectors, y=guide)
    return np.nan_to_num(np.asarray(layout))


def fit_bertopic(
    docs: list[str],
    vectors: np.ndarray,
    config: TopicsConfig,
    min_topic_size: int,
    guide: np.ndarray | None = None,
):
    """BERTopic fitted on `vectors` (`layout_model`, `clustering_model`), and its topics. With
    `guide` (a topic per ticket, -1 for none), BERTopic's semi-supervised mode (`y`): the
    layout is UMAP's semi-supervised one; HDBSCAN clusters it as always."""
    import_bertopic()
    from bertopic import BERTopic

    model = BERTopic(
        embedding_model=None,
        umap_model=layout_model(vectors, config),
        hdbscan_model=clustering_model(config, min_topic_size),
        vectorizer_model=vectorizer(len(docs)),
        ctfidf_model=ctfidf(),
        top_n_words=config.top_n_words,
        calculate_probabilities=False,
        verbose=False,
    )
    with quiet_layout():
        assigned, _ = model.fit_transform(docs, embeddings=vectors, y=guide)
    return model, np.asarray(assigned, dtype=np.int64)


#: The smallest topic HDBSCAN may ever find: the floor of the minimum topic size.
SMALLEST_TOPIC = 10
#: A dense group of tickets that the clustering leaves out lies apart from every topic when
#: its centroid is at least this share of the median distance between two tickets
#: (`typical_distance`) from every topic's centroid: twice what `merge_distance` merges.
APART = 0.6
#: The share of the tickets in distinct issues that the clustering hides, from which topics
#: are allowed smaller: in groups it leaves out (`left_out_share`), or in groups that a split
#: would take out of the topics they are folded into (`folded_share`), each counted alone.
HIDDEN = 0.03


def smaller_topics(
    layout: np.ndarray,
    vectors: np.ndarray,
    clustered: np.ndarray,
    config: TopicsConfig,
    min_topic_size: int,
    halvings: int | None = None,
    finest: np.ndarray | None = None,
    words: csr_matrix | None = None,
) -> tuple[np.ndarray, int]:
    """The clustering at the minimum topic size the tickets ask for, and that size.

    A minimum topic size of 1% suits a desk of 20 issues of 1,000 tickets, and hides the
    issues of a desk with 150 of 30: a group of 30 tickets cannot be a topic of its own, and
    HDBSCAN leaves it out or folds it into a neighbour. Such groups show in HDBSCAN's finest
    clustering of the same layout (topics of `SMALLEST_TOPIC`):
    - a dense group that the clustering leaves out (most of its tickets unclustered) and whose
      centroid lies `APART` from every topic is an issue of its own, not a variant of one;
    - with `words`, a group folded into a topic whose words are not the topic's (the groups
      that `split_folded` would take out of it) is one too.
    While the groups left out, or those folded in, hold at least `HIDDEN` of the tickets, the
    minimum size is halved and HDBSCAN runs again on the same layout; a large issue phrased
    in a few ways makes groups close to its own topic that share its words, and the size
    stays. No second layout is fitted.

    Args:
        layout: the UMAP layout the topics were clustered on.
        vectors: the sentence embeddings of the same tickets (centroids and distances).
        clustered: HDBSCAN's topics at `min_topic_size`.
        halvings: halve the size this many times without asking (a refit that keeps its
            previous model's granularity, `topics.model.previous_halvings`).
        finest: `finest_clustering(layout, config)`, where the caller has it already.
        words: `word_use` of the same tickets, to count the groups folded in too (the
            caller splits the topics it returns, `split_folded`); None: only those left out.
    """
    if min_topic_size <= SMALLEST_TOPIC or halvings == 0:
        return clustered, min_topic_size
    if halvings is None:
        groups = finest_clustering(layout, config) if finest is None else finest
        apart = APART * typical_distance(vectors, config.seed)

        def enough(done: int) -> bool:
            if left_out_share(groups, clustered, vectors, apart) >= HIDDEN:
                return False
            return words is None or folded_share(clustered, groups, words, min_topic_size) < HIDDEN
    else:

        def enough(done: int) -> bool:
            return done == halvings

    done = 0
    while min_topic_size > SMALLEST_TOPIC and not enough(done):
        min_topic_size, done = max(SMALLEST_TOPIC, min_topic_size // 2), done + 1
        clustered = np.asarray(
            clustering_model(config, min_topic_size).fit_predict(layout), dtype=np.int64
        )
    return clustered, min_topic_size


def finest_clustering(layout: np.ndarray, config: TopicsConfig) -> np.ndarray:
    """HDBSCAN's finest clustering of the layout: groups of at least `SMALLEST_TOPIC`."""
    return np.asarray(clustering_model(config, SMALLEST_TOPIC).fit_predict(layout), dtype=np.int64)


#: Two dense groups of tickets within one topic are distinct issues when they share few
#: words, the cosine similarity of their word profiles (`_word_profiles`) below this ...
SHARED_WORDS = 0.15
#: ... and one of them has a word of its own: used by at least this share of its tickets ...
OWN_WORD = 0.6
#: ... and by at most this share of the other's.
OTHER_WORD = 0.05


def split_folded(
    clustered: np.ndarray, finest: np.ndarray, words: csr_matrix | None, min_topic_size: int
) -> np.ndarray:
    """Topics that hold distinct issues, split along the groups of the finest clustering.

    HDBSCAN folds an issue too small or too close to stand alone into a neighbouring topic,
    and the topic's label then names one of the two. Within a topic, the groups of `finest`
    (`finest_clustering`, each mostly inside the topic) are one issue unless they share few
    words and one of them has a word of its own (`SHARED_WORDS`, `OWN_WORD`, `OTHER_WORD`):
    variants of an issue share its words ("refund", "charged twice") whatever the product,
    and an issue folded into another has its own ("alarm" beside "weather"). Groups are
    joined into issues by single linkage. The issue with the most tickets keeps the topic;
    each other one of at least half `min_topic_size` tickets becomes a topic of its own,
    numbered after the last topic, in the order of the topics and of their groups. Tickets
    of the topic in no group stay in it. `clustered` itself when no topic is split.

    Args:
        clustered: the topics (HDBSCAN's, before any merge).
        finest: the finest clustering of the same tickets.
        words: `word_use` of the tickets' prepared text, row for row (None: no word in two
            tickets, nothing is split).
        min_topic_size: the minimum topic size the topics were clustered at.
    """
    in_topic: dict[int, list[int]] = {}
    for group in sorted(set(finest.tolist()) - {UNCLUSTERED}):
        topics = clustered[finest == group]
        inside = topics[topics != UNCLUSTERED]
        if 2 * len(inside) > len(topics):
            in_topic.setdefault(int(np.bincount(inside).argmax()), []).append(group)
    folded = {t: groups for t, groups in in_topic.items() if len(groups) > 1}
    if not folded or words is None:
        return clustered
    profiles = _word_profiles(finest, [g for t in sorted(folded) for g in folded[t]], words)
    result, next_topic = clustered.copy(), int(clustered.max()) + 1
    for topic in sorted(folded):
        issues = _issues_of(folded[topic], profiles)
        size = {i: int(np.isin(finest, issue).sum()) for i, issue in enumerate(issues)}
        largest = max(size, key=lambda i: (size[i], -i))
        for i, issue in enumerate(issues):
            if i != largest and 2 * size[i] >= min_topic_size:
                result[np.isin(finest, issue) & (clustered == topic)] = next_topic
                next_topic += 1
    return result if next_topic > int(clustered.max()) + 1 else clustered


def folded_share(
    clustered: np.ndarray, finest: np.ndarray, words: csr_matrix | None, min_topic_size: int
) -> float:
    """The share of the tickets that `split_folded` would take out of the topics they are
    folded into."""
    return float(np.mean(split_folded(clustered, finest, words, min_topic_size) != clustered))


def word_use(texts: Sequence[str]) -> csr_matrix | None:
    """Which words each text uses (English stop words aside, words of at least two texts),
    one row per text, for `split_folded`; None when no word is in two texts."""
    from sklearn.feature_extraction.text import CountVectorizer

    try:
        return CountVectorizer(stop_words="english", min_df=2, binary=True).fit_transform(texts)
    except ValueError:  # no word in two texts
        return None


def _word_profiles(
    finest: np.ndarray, groups: Sequence[int], words: csr_matrix
) -> dict[int, np.ndarray]:
    """The word profile of each of `groups` of `finest`: for each word of `words`
    (`word_use`), the share of the group's tickets that use it."""
    from scipy.sparse import csr_matrix

    order = np.argsort(groups)
    members = np.flatnonzero(np.isin(finest, groups))
    rows = order[np.searchsorted(np.asarray(groups)[order], finest[members])]
    membership = csr_matrix(
        (np.ones(len(members)), (rows, members)), shape=(len(groups), len(finest))
    )
    shares = (membership @ words).toarray() / np.bincount(rows, minlength=len(groups))[:, None]
    return {int(g): shares[i] for i, g in enumerate(groups)}


def _issues_of(groups: list[int], profiles: dict[int, np.ndarray]) -> list[list[int]]:
    """`groups` joined into issues (single linkage): two groups are one issue unless they
    share few words and one of them has a word of its own (`split_folded`)."""
    shares = np.vstack([profiles[g] for g in groups])
    unit_rows = shares / np.maximum(np.linalg.norm(shares, axis=1, keepdims=True), 1e-12)
    similar = unit_rows @ unit_rows.T >= SHARED_WORDS
    own = (shares >= OWN_WORD).astype(np.float64) @ (shares <= OTHER_WORD).T.astype(np.float64)
    distinct = ~similar & ((own > 0) | (own.T > 0))
    issue = list(range(len(groups)))
    for a, b in zip(*np.nonzero(np.triu(~distinct, 1)), strict=True):
        old, new = issue[b], issue[a]
        issue = [new if i == old else i for i in issue]
    joined: dict[int, list[int]] = {}
    for group, i in zip(groups, issue, strict=True):
        joined.setdefault(i, []).append(group)
    return list(joined.values())


#: A UMAP neighbourhood spans much of an issue where the topics hold on average fewer tickets
#: than this many neighbourhoods (`narrower_worth_trying`).
NARROW_SPAN = 4


def narrower_worth_trying(clustered: np.ndarray, config: TopicsConfig) -> bool:
    """Whether to lay the tickets out again with `config.narrow_neighbors` neighbours.

    UMAP's neighbourhood of `n_neighbors` (50) keeps the products and phrasings of a large
    issue together. Where the topics hold on average fewer than `NARROW_SPAN` neighbourhoods
    of tickets, a neighbourhood also spans the issues around each ticket, and small issues
    that differ by a word blur into one topic.
    """
    if not 0 < config.narrow_neighbors < config.n_neighbors:
        return False
    inside = clustered[clustered != UNCLUSTERED]
    topics = len(set(inside.tolist()))
    return topics > 0 and len(inside) < NARROW_SPAN * config.n_neighbors * topics


def top_word_share(clustered: np.ndarray, words: csr_matrix | None) -> float:
    """The share of the clustered tickets that use their topic's most used word (`word_use`):
    higher where fewer topics hold two issues that differ by a word."""
    inside = clustered != UNCLUSTERED
    if words is None or not inside.any():
        return 0.0
    _, members = _membership(clustered)
    return float((members @ words).max(axis=1).toarray().sum() / inside.sum())


def halvings_between(first: int, used: int) -> int | None:
    """How many halvings of `smaller_topics` lead from `first` to `used` (None: none do)."""
    done, size = 0, first
    while size > used and size > SMALLEST_TOPIC:
        size, done = max(SMALLEST_TOPIC, size // 2), done + 1
    return done if size == used else None


def left_out_share(
    finest: np.ndarray, clustered: np.ndarray, vectors: np.ndarray, apart: float
) -> float:
    """The share of the tickets in groups of `finest` that `clustered` leaves out: most of
    the group unclustered, its centroid at least `apart` (cosine) from every topic's (when
    `clustered` found no topic at all, every group that it leaves out)."""
    groups = _centroids(finest, vectors)
    if not groups:
        return 0.0
    topics = _centroids(clustered, vectors)
    labels = np.array(sorted(groups))
    size = np.bincount(finest[finest != UNCLUSTERED], minlength=labels.max() + 1)[labels]
    left = np.bincount(
        finest[(finest != UNCLUSTERED) & (clustered == UNCLUSTERED)], minlength=labels.max() + 1
    )[labels]
    nearest = np.full(len(labels), -np.inf)  # no topic: nothing is near
    if topics:
        matrix = np.vstack([topics[t] for t in sorted(topics)])
        nearest = (np.vstack([groups[g] for g in labels]) @ matrix.T).max(axis=1)
    out = (2 * left > size) & (1.0 - nearest >= apart)
    return float(size[out].sum() / len(finest))


def _centroids(assigned: np.ndarray, vectors: np.ndarray) -> dict[int, np.ndarray]:
    """The unit centroid of each topic of `assigned` (not of the unclustered tickets)."""
    if not (assigned != UNCLUSTERED).any():
        return {}
    labels, members = _membership(assigned)
    sums = np.asarray(members @ vectors.astype(np.float64))
    return {int(t): unit(row) for t, row in zip(labels, sums, strict=True)}


def _membership(assigned: np.ndarray) -> tuple[np.ndarray, csr_matrix]:
    """The topics of `assigned` (unclustered aside) and a sparse (topics x tickets) matrix
    with a 1 where the ticket is in the topic: its product with per-ticket rows sums them by
    topic."""
    from scipy.sparse import csr_matrix

    inside = assigned != UNCLUSTERED
    labels, position = np.unique(assigned[inside], return_inverse=True)
    members = csr_matrix(
        (np.ones(len(position)), (position, np.flatnonzero(inside))),
        shape=(len(labels), len(assigned)),
    )
    return labels, members


def coarser_clustering(
    model,
    clustered: np.ndarray,
    config: TopicsConfig,
    min_topic_size: int,
    finer: bool = False,
) -> np.ndarray | None:
    """The same tickets clustered at HDBSCAN's own density neighbourhood, with no merge.

    With `min_samples`, `merge_distance`, a smaller minimum size (`smaller_topics`) or
    topics split (`split_folded`) the topics are finer than this coarser clustering of the
    same layout, and closer to the issues, but the themes are grouped from it
    (`identity.themes_from_coarser`). None when the topics are that clustering already.

    Args:
        model: the fitted BERTopic model (its UMAP layout is reused, not fitted again).
        clustered: its topics at `min_topic_size`, before `smaller_topics`, `split_folded`
            and `merge_close_topics`.
        finer: whether the topics were then made finer (`smaller_topics`, `split_folded`).
    """
    if not config.min_samples or config.min_samples >= min_topic_size:
        return clustered.copy() if config.merge_distance > 0 or finer else None
    layout = np.nan_to_num(model.umap_model.embedding_)
    hdbscan = clustering_model(config.model_copy(update={"min_samples": 0}), min_topic_size)
    return np.asarray(hdbscan.fit_predict(layout), dtype=np.int64)


def merge_close_topics(
    assigned: np.ndarray, vectors: np.ndarray, share: float, seed: int = 0
) -> np.ndarray:
    """Topics whose centroids lie close together made one; unclustered tickets stay so.

    HDBSCAN finds the dense regions of the layout, and a large issue that is phrased in a few
    distinct ways can make several of them that mean the same thing. Topics are merged by
    average linkage on the cosine distance of their centroids (of `vectors`), cut at `share`
    of the median cosine distance between two of the tickets (`typical_distance`): each
    embedding model spreads its vectors differently (the fast profile's static vectors lie
    closer together than MiniLM's), and a fixed distance would merge distinct issues under
    one model and nothing under another. Merged topics are numbered 0, 1, ... in the order
    of their first original topic, so that the same clustering always gives the same ids.
    `share` 0 merges nothing.
    """
    real = sorted(int(t) for t in set(assigned.tolist()) if t != UNCLUSTERED)
    if share <= 0 or len(real) < 2:
        return assigned
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    matrix = np.vstack([unit(vectors[assigned == t].mean(axis=0)) for t in real])
    tree = linkage(pdist(matrix.astype(np.float64), metric="cosine"), method="average")
    groups = fcluster(tree, t=share * typical_distance(vectors, seed), criterion="distance")
    number: dict[int, int] = {}
    merged = {t: number.setdefault(int(g), len(number)) for t, g in zip(real, groups, strict=True)}
    lookup = np.array([merged.get(t, UNCLUSTERED) for t in range(max(real) + 1)], dtype=np.int64)
    return np.where(assigned == UNCLUSTERED, UNCLUSTERED, lookup[np.maximum(assigned, 0)])


#: Pairs of tickets `typical_distance` compares at a time: their float64 copies stay small
#: (all 20,000 pairs at once made 250 MB of copies: 1.0 s on a first call, 0.19 s after, where
#: slices take 0.11 s on HWU64's vectors).
_PAIRS_AT_ONCE = 2_000


def typical_distance(vectors: np.ndarray, seed: int = 0, pairs: int = 20_000) -> float:
    """The median cosine distance between two tickets (a seeded sample of pairs)."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(vectors), pairs)
    second = rng.integers(0, len(vectors), pairs)
    cosine = np.empty(pairs, dtype=np.float64)
    for start in range(0, pairs, _PAIRS_AT_ONCE):
        end = start + _PAIRS_AT_ONCE
        a = vectors[first[start:end]].astype(np.float64)
        b = vectors[second[start:end]].astype(np.float64)
        norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        cosine[start:end] = np.einsum("ij,ij->i", a, b) / np.maximum(norms, 1e-12)
    return float(np.median(1.0 - cosine))


def apply_outlier_policy(
    assigned: np.ndarray, vectors: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """Reassign close outliers; return topics, similarity to own centroid, centroids."""
    real = sorted(int(t) for t in set(assigned.tolist()) if t != UNCLUSTERED)
    if not real:
        raise StageError(
            "topics: the clustering found no recurring issue (every ticket is an outlier); "
            "lower [topics] min_topic_size or ingest more tickets"
        )
    centroids = {t: unit(vectors[assigned == t].mean(axis=0)) for t in real}
    matrix = np.vstack([centroids[t] for t in real])
    similarity = vectors @ matrix.T
    best = similarity.argmax(axis=1)
    best_similarity = similarity[np.arange(len(assigned)), best]
    outliers = assigned == UNCLUSTERED
    join = outliers & (best_similarity >= threshold)
    result = assigned.copy()
    result[join] = np.array(real)[best[join]]
    position = np.searchsorted(np.array(real), result)
    own = np.where(result == UNCLUSTERED, -1, position)
    own_similarity = np.where(
        own >= 0, similarity[np.arange(len(result)), np.maximum(own, 0)], best_similarity
    )
    remaining = result == UNCLUSTERED
    if remaining.any():
        centroids[UNCLUSTERED] = unit(vectors[remaining].mean(axis=0))
    return result, own_similarity.astype(np.float64), centroids


@contextmanager
def quiet_bertopic() -> Iterator[None]:
    logger = logging.getLogger("BERTopic")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float32)
