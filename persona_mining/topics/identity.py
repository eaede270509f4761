"""Stable topic keys across refits, and topic groups.

A refit matches its topics to the previous model's by centroid similarity (one-to-one, the
best pairs first): a topic that persists keeps its key and label, a new one gets the next
free key, and a topic of the previous model without a match is retired (its last model stays
the previous one). Groups are a coarser level: topics whose centroids are close, merged by
average-linkage clustering, so that small topics can be linked to personas together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNCLUSTERED = -1
UNCLUSTERED_KEY = "unclustered"


@dataclass(frozen=True)
class PreviousTopic:
    """A topic of the previous model, as the refit sees it."""

    key: str
    label: str
    first_model_id: str
    centroid: np.ndarray


@dataclass(frozen=True)
class Identity:
    """The key of a new topic, and what it inherited."""

    key: str
    first_model_id: str
    inherited_label: str | None


def match_topics(
    centroids: dict[int, np.ndarray],
    previous: list[PreviousTopic],
    *,
    model_id: str,
    next_number: int,
    threshold: float,
) -> tuple[dict[int, Identity], list[str]]:
    """Keys for the new topics, and the keys of the previous topics that are retired.

    Args:
        centroids: unit-length centroid per new topic id.
        previous: the previous model's topics (unclustered excluded).
        model_id: the new model's id (first model of new topics).
        next_number: the number of the next new key (`T0001`, `T0002`, ...).
        threshold: cosine similarity at or above which two topics are the same topic.
    """
    new_ids = [t for t in sorted(centroids) if t != UNCLUSTERED]
    identities: dict[int, Identity] = {}
    if UNCLUSTERED in centroids:
        identities[UNCLUSTERED] = Identity(UNCLUSTERED_KEY, model_id, None)
    matched: dict[int, PreviousTopic] = {}
    if previous and new_ids:
        similarity = (
            np.vstack([centroids[t] for t in new_ids]) @ np.vstack([p.centroid for p in previous]).T
        )
        pairs = sorted(
            ((similarity[i, j], i, j) for i in range(len(new_ids)) for j in range(len(previous))),
            reverse=True,
        )
        taken_new: set[int] = set()
        taken_old: set[int] = set()
        for score, i, j in pairs:
            if score < threshold:
                break
            if i in taken_new or j in taken_old:
                continue
            taken_new.add(i)
            taken_old.add(j)
            matched[new_ids[i]] = previous[j]
    number = next_number
    for topic in new_ids:
        if topic in matched:
            old = matched[topic]
            identities[topic] = Identity(old.key, old.first_model_id, old.label)
        else:
            identities[topic] = Identity(f"T{number:04d}", model_id, None)
            number += 1
    kept = {p.key for p in matched.values()}
    retired = [p.key for p in previous if p.key not in kept]
    return identities, retired


#: The number of themes a support lead can review: chosen from the data within this range.
THEMES = (8, 30)


def group_topics(
    centroids: dict[int, np.ndarray], *, distance: float = 0.0, themes: tuple[int, int] = THEMES
) -> dict[int, int]:
    """Theme (group) id per topic (unclustered in group -1): average linkage on cosine distance.

    With `distance` 0 the number of themes comes from the data: the cut of the tree, from
    `themes[0]` to `themes[1]` themes (and fewer than the topics), with the best silhouette of
    the topics' centroids. A positive `distance` cuts the tree at that cosine distance instead.
    """
    topics = [t for t in sorted(centroids) if t != UNCLUSTERED]
    groups = {UNCLUSTERED: UNCLUSTERED} if UNCLUSTERED in centroids else {}
    if len(topics) < 2:
        return {**groups, **{t: 0 for t in topics}}
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    matrix = np.vstack([centroids[t] for t in topics]).astype(np.float64)
    tree = linkage(pdist(matrix, metric="cosine"), method="average")
    if distance > 0:
        labels = fcluster(tree, t=distance, criterion="distance")
    else:
        labels = _themes_from_data(matrix, tree, themes)
    # Number groups by their first topic, so that ids are stable for the same topics.
    order: dict[int, int] = {}
    for topic, label in zip(topics, labels.tolist(), strict=True):
        order.setdefault(label, len(order))
        groups[topic] = order[label]
    return groups


def _themes_from_data(matrix: np.ndarray, tree: np.ndarray, themes: tuple[int, int]) -> np.ndarray:
    """The cut of the linkage tree into a reviewable number of themes with the best silhouette.

    A handful of topics stay one theme each; otherwise the candidates run from `themes[0]`
    (at most half the topics) to `themes[1]` (fewer than the topics).
    """
    from scipy.cluster.hierarchy import fcluster

    from persona_mining.stats import choose_k_by_silhouette

    n = len(matrix)
    low = max(2, min(themes[0], n // 2))
    high = min(themes[1], n - 1)
    if n <= themes[0] or high < low:
        return np.arange(1, n + 1)
    choice = choose_k_by_silhouette(
        matrix,
        range(low, high + 1),
        lambda k: fcluster(tree, t=k, criterion="maxclust") - 1,
        seed=0,
        metric="cosine",
    )
    if choice.labels is None:
        return fcluster(tree, t=low, criterion="maxclust")
    return choice.labels + 1
