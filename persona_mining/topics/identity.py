"""Stable topic keys across refits, and topic groups.

A refit matches its topics to the previous model's by centroid similarity (one-to-one, the
best pairs first): a topic that persists keeps its key and label, a new one gets the next
free key, and a topic of the previous model without a match is retired (its last model stays
the previous one). A new topic that matches no topic of the previous model is matched, the same
way, to the topics retired by earlier refits: a topic that comes back keeps its key, and with it
the edits recorded against the key (a merge, a rename). Groups are a coarser level, the *themes*: topics whose centroids are close,
merged by average-linkage clustering, so that small topics can be linked to personas together.
A theme keeps its key (`G0001`, ...) across refits when it holds mostly the same topics, and
its label is built from its topics' labels, so that it follows their renames.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
    retired: Sequence[PreviousTopic] = (),
) -> tuple[dict[int, Identity], list[str]]:
    """Keys for the new topics, and the keys of the previous topics that are retired.

    Args:
        centroids: unit-length centroid per new topic id.
        previous: the previous model's topics (unclustered excluded).
        model_id: the new model's id (first model of new topics).
        next_number: the number of the next new key (`T0001`, `T0002`, ...).
        threshold: cosine similarity at or above which two topics are the same topic.
        retired: topics of earlier models that the previous model no longer had (their last
            centroids, in the same space): matched only by the new topics that match no
            previous topic, so that a topic coming back never takes a key from one that
            persists.
    """
    new_ids = [t for t in sorted(centroids) if t != UNCLUSTERED]
    identities: dict[int, Identity] = {}
    if UNCLUSTERED in centroids:
        identities[UNCLUSTERED] = Identity(UNCLUSTERED_KEY, model_id, None)
    matched = _best_pairs(centroids, new_ids, list(previous), threshold)
    unmatched = [t for t in new_ids if t not in matched]
    known = {p.key for p in previous}
    matched.update(
        _best_pairs(centroids, unmatched, [p for p in retired if p.key not in known], threshold)
    )
    number = next_number
    for topic in new_ids:
        if topic in matched:
            old = matched[topic]
            identities[topic] = Identity(old.key, old.first_model_id, old.label)
        else:
            identities[topic] = Identity(f"T{number:04d}", model_id, None)
            number += 1
    kept = {p.key for p in matched.values()}
    return identities, [p.key for p in previous if p.key not in kept]


def _best_pairs(
    centroids: dict[int, np.ndarray],
    new_ids: list[int],
    previous: list[PreviousTopic],
    threshold: float,
) -> dict[int, PreviousTopic]:
    """One-to-one matches of new topics to earlier ones, the most similar pairs first."""
    matched: dict[int, PreviousTopic] = {}
    if not previous or not new_ids:
        return matched
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
    return matched


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


def themes_from_coarser(
    topic_of: np.ndarray,
    coarse_of: np.ndarray,
    coarse_centroids: dict[int, np.ndarray],
    centroids: dict[int, np.ndarray],
    *,
    themes: tuple[int, int] = THEMES,
) -> dict[int, int] | None:
    """Theme id per topic, from a coarser clustering of the same tickets.

    Finer topics come closer to the issues than the coarse ones do, but their own centroids
    group into themes less well (bench/RESULTS.md). So the themes are the coarse topics grouped
    as `group_topics` groups topics, and each topic goes to the theme that holds most of its
    tickets in the coarse clustering. A topic none of whose tickets the coarse clustering placed
    (a known issue, say) goes to the theme of the coarse topic whose centroid is the most
    similar to its own. Themes are numbered by their first topic.

    Args:
        topic_of: each ticket's topic (UNCLUSTERED: none).
        coarse_of: the same tickets' topics in the coarse clustering (UNCLUSTERED: none).
        coarse_centroids: unit centroid per coarse topic (an UNCLUSTERED entry is ignored).
        centroids: unit centroid per topic id (UNCLUSTERED included when it has tickets).

    Returns:
        None when the coarse clustering has fewer than two topics: group the topics instead.
    """
    names = sorted(c for c in coarse_centroids if c != UNCLUSTERED)
    if len(names) < 2:
        return None
    coarse_theme = group_topics({c: coarse_centroids[c] for c in names}, themes=themes)
    theme_of_coarse = np.full(max(names) + 1, UNCLUSTERED, dtype=np.int64)
    theme_of_coarse[names] = [coarse_theme[c] for c in names]
    matrix = np.vstack([coarse_centroids[c] for c in names])
    placed = coarse_of != UNCLUSTERED
    groups = {UNCLUSTERED: UNCLUSTERED} if UNCLUSTERED in centroids else {}
    order: dict[int, int] = {}
    for topic in sorted(t for t in centroids if t != UNCLUSTERED):
        held = theme_of_coarse[coarse_of[placed & (topic_of == topic)]]
        if len(held):
            theme = int(np.bincount(held).argmax())
        else:
            theme = coarse_theme[names[int(np.argmax(matrix @ centroids[topic]))]]
        groups[topic] = order.setdefault(theme, len(order))
    return groups


def keep_themes(
    centroids: dict[int, np.ndarray],
    sizes: dict[int, int],
    keys: dict[int, str],
    previous: dict[str, str],
    *,
    distance: float = 0.0,
    themes: tuple[int, int] = THEMES,
    fresh: Callable[[], dict[int, int] | None] | None = None,
) -> dict[int, int]:
    """Themes of a refit that keep the previous model's where its topics persist.

    Themes are what a support lead reviews and tracks, so a refit does not regroup them from
    scratch: a topic that persists (same key) stays in its theme; a new topic joins the theme
    whose centroid it is as close to as that theme's own loosest topic is, else it is a theme
    of its own. When the persisting topics hold less than half of the tickets (another
    embedding model, very different data), the themes are grouped afresh (`group_topics`).

    Args:
        centroids: unit-length centroid per topic id.
        sizes: tickets per topic id.
        keys: the topic key of each topic id.
        previous: the previous model's theme key of each topic key.
        distance, themes: as for `group_topics`, when grouping afresh.
        fresh: gives the themes to take when grouping afresh (`themes_from_coarser`; None
            from it: group the topics' centroids), called only then.
    """
    topics = [t for t in sorted(centroids) if t != UNCLUSTERED]
    theme_of = {t: previous[keys[t]] for t in topics if keys.get(t) in previous}
    total = sum(sizes.get(t, 0) for t in topics)
    if not theme_of or sum(sizes.get(t, 0) for t in theme_of) * 2 < total:
        grouped = fresh() if fresh is not None else None
        if grouped is not None:
            return grouped
        return group_topics(centroids, distance=distance, themes=themes)
    members: dict[str, list[int]] = {}
    for topic, theme in theme_of.items():
        members.setdefault(theme, []).append(topic)
    centres: dict[str, np.ndarray] = {}
    reach: dict[str, float] = {}
    for theme, held in members.items():
        centre = np.sum([max(sizes.get(t, 0), 1) * centroids[t] for t in held], axis=0)
        centre = centre / max(float(np.linalg.norm(centre)), 1e-12)
        centres[theme] = centre
        reach[theme] = min(float(centroids[t] @ centre) for t in held)
    names = sorted(centres)
    matrix = np.vstack([centres[n] for n in names])
    for topic in topics:
        if topic in theme_of:
            continue
        similarity = matrix @ centroids[topic]
        best = int(np.argmax(similarity))
        fits = similarity[best] >= reach[names[best]] and len(members[names[best]]) > 1
        theme_of[topic] = names[best] if fits else f"new:{topic}"
    groups = {UNCLUSTERED: UNCLUSTERED} if UNCLUSTERED in centroids else {}
    order: dict[str, int] = {}
    for topic in topics:
        order.setdefault(theme_of[topic], len(order))
        groups[topic] = order[theme_of[topic]]
    return groups


#: The topics group clearly into themes when the best cut's silhouette reaches this ...
CLEAR_GROUPING = 0.2
#: ... otherwise the cut keeps this share of the topics apart, as themes.
KEPT_APART = 2 / 3
#: No cut is chosen whose largest theme holds more than this share of the topics: such a theme
#: is most of the desk, not a group of related issues a support lead can review.
LARGEST_THEME = 1 / 2


def _themes_from_data(matrix: np.ndarray, tree: np.ndarray, themes: tuple[int, int]) -> np.ndarray:
    """The cut of the linkage tree into a reviewable number of themes.

    A handful of topics stay one theme each; otherwise the candidates run from `themes[0]`
    (at most half the topics) to `themes[1]` (fewer than the topics), less the cuts whose
    largest theme holds more than `LARGEST_THEME` of the topics. Where the topics group
    clearly (the best cut's silhouette at least `CLEAR_GROUPING`), that cut is taken. Where
    they do not, the silhouette of every cut is low and nearly flat, its best is most often
    the fewest themes, and each such theme joins unrelated topics: the cut then keeps
    `KEPT_APART` of the topics apart.
    """
    from scipy.cluster.hierarchy import fcluster

    from persona_mining.stats import choose_k_by_silhouette

    n = len(matrix)
    low = max(2, min(themes[0], n // 2))
    high = min(themes[1], n - 1)
    if n <= themes[0] or high < low:
        return np.arange(1, n + 1)

    def cut(k: int) -> np.ndarray:
        return fcluster(tree, t=k, criterion="maxclust") - 1

    # The cuts of one tree nest, so the largest theme only shrinks as the themes grow: the
    # candidates are the cuts from the first whose largest theme is small enough.
    first = next(
        (k for k in range(low, high + 1) if np.bincount(cut(k)).max() <= LARGEST_THEME * n),
        high,
    )
    choice = choose_k_by_silhouette(matrix, range(first, high + 1), cut, seed=0, metric="cosine")
    if choice.labels is None or choice.k is None:
        return fcluster(tree, t=first, criterion="maxclust")
    if choice.scores[choice.k] < CLEAR_GROUPING:
        return fcluster(tree, t=min(high, max(low, round(KEPT_APART * n))), criterion="maxclust")
    return choice.labels + 1


@dataclass(frozen=True)
class PreviousTheme:
    """A theme of the previous model: its key and its topics' keys with their sizes."""

    key: str
    members: dict[str, int]


def match_themes(
    themes: dict[int, dict[str, int]],
    previous: list[PreviousTheme],
    *,
    next_number: int,
) -> dict[int, str]:
    """A key per new theme: the previous theme's when they share most of their tickets.

    Two themes share the tickets of the topic keys they both hold (the smaller of the two sizes
    of each such topic). A new theme inherits the key of the previous theme it shares the most
    with, one-to-one and the largest overlaps first, when that overlap is at least half of the
    smaller of the two themes: a theme that splits keeps its key on its larger part, and two
    themes that merge keep the key of the one that brings the most tickets.

    Args:
        themes: topic key -> tickets, per new theme id (unclustered excluded).
        previous: the previous model's themes that carry a key.
        next_number: the number of the next new key.
    """
    pairs = []
    for theme, members in themes.items():
        size = sum(members.values())
        for j, old in enumerate(previous):
            shared = sum(min(n, old.members[k]) for k, n in members.items() if k in old.members)
            smaller = min(size, sum(old.members.values()))
            if shared > 0 and smaller > 0 and shared >= 0.5 * smaller:
                pairs.append((shared, -theme, j))
    keys: dict[int, str] = {}
    taken: set[int] = set()
    for _, negative_theme, j in sorted(pairs, reverse=True):
        theme = -negative_theme
        if theme in keys or j in taken:
            continue
        keys[theme] = previous[j].key
        taken.add(j)
    number = next_number
    for theme in sorted(themes):
        if theme not in keys:
            keys[theme] = f"G{number:04d}"
            number += 1
    return keys


def theme_label(members: list[tuple[str, int]]) -> str:
    """A theme's label from its topics' labels and sizes.

    The largest topic's label when it holds most of the theme's tickets; otherwise the two
    largest topics' labels, with a count of the others, so that the label does not name a
    minority of what the theme holds.
    """
    ordered = sorted(members, key=lambda m: (-m[1], m[0]))
    total = sum(size for _, size in ordered)
    if len(ordered) == 1 or ordered[0][1] * 2 > total:
        return ordered[0][0]
    label = f"{ordered[0][0]} · {ordered[1][0]}"
    others = len(ordered) - 2
    return f"{label} (+{others} more)" if others else label
