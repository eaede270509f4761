"""Stage 4, topics: the recurring issues, found by BERTopic on the cached embeddings.

`fit_topics` fits a new model on the prepared tickets (a refit; beyond `[topics] fit_sample`
tickets, on a stratified sample, the others joining their most similar topic) and saves it under
`models/<model_id>/` (BERTopic's safetensors format plus a `manifest.json`);
`assign_topics` assigns tickets that are new or changed since with the saved model, the
way BERTopic's safetensors models transform: cosine similarity to the topic centroids.

Granularity: HDBSCAN (a minimum topic size of 1% of the tickets, halved while distinct
smaller issues are left out or folded into larger ones, `clustering.smaller_topics`; a density
neighbourhood of `[topics] min_samples`) finds the dense regions; a topic that folds
distinct issues together is split along HDBSCAN's finest groups (`clustering.split_folded`);
with `[topics] merge_distance`, regions whose centroids lie close together (a large issue
phrased in a few ways) are merged. Where the topics are small for UMAP's neighbourhood, the
tickets are laid out again with a narrower one (`[topics] narrow_neighbors`), whose issues are
kept where more tickets use their topic's most used word (`clustering.narrower_worth_trying`,
`shared_words`). Themes: when the issues are finer than HDBSCAN's own
clustering at the first size, the themes are grouped from that coarser clustering and each
issue joins the theme that holds most of its tickets there (`clustering.coarser_clustering`,
`identity.themes_from_coarser`). A refit of the same desk is laid out guided by the topics
that the previous model's fit gave the tickets (`previous_topics`, UMAP's semi-supervised
layout), so that a topic is not cut anew by the layout's own randomness.

Outlier policy: a ticket HDBSCAN leaves unclustered joins its most similar topic when the
cosine similarity to that topic's centroid is at least `outlier_threshold`; the others
stay in topic -1, labelled "Unclustered", visible with their count.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import platform
import shutil
import time
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from persona_mining.config import KnownIssue, TopicsConfig, segment_id
from persona_mining.errors import ModelError, StageError
from persona_mining.progress import Progress, no_progress
from persona_mining.text.embed import Embedder, load_vectors, unit_rows
from persona_mining.text.pii import PLACEHOLDER_RE
from persona_mining.topics.clustering import (
    SMALLEST_TOPIC,
    apply_outlier_policy,
    clustering_model,
    coarser_clustering,
    ctfidf,
    finest_clustering,
    fit_bertopic,
    fit_layout,
    halvings_between,
    merge_close_topics,
    narrower_worth_trying,
    quiet_bertopic,
    smaller_topics,
    split_folded,
    top_word_share,
    unit,
    vectorizer,
    word_use,
)
from persona_mining.topics.identity import (
    UNCLUSTERED_KEY,
    Identity,
    PreviousTheme,
    PreviousTopic,
    keep_themes,
    match_themes,
    match_topics,
    theme_label,
    themes_from_coarser,
)
from persona_mining.topics.labels import (
    UNCLUSTERED,
    UNCLUSTERED_LABEL,
    describe_topics,
    keyword_text,
    label_key,
    label_phrases,
    presentable,
)
from persona_mining.warehouse import transaction

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

MIN_TICKETS_TO_FIT = 30
#: Analyses the given tickets' texts before they describe topics (see `fit_topics`).
Analyse = Callable[[Sequence[str]], object]
#: Told, before the clustering, the tickets whose label samples will be analysed, in the order
#: the samples are drawn in (`label_order`).
Coming = Callable[[Sequence[str]], object]
# Steps of a fit that `progress` is told of: tickets clustered, then topics described.
_CLUSTERING = "topic fit: UMAP + HDBSCAN"
_DESCRIBING = "topic fit: keywords and labels"
_LOG = logging.getLogger("persona_mining.topics")
_VERSIONED_PACKAGES = (
    "bertopic",
    "umap-learn",
    "hdbscan",
    "scikit-learn",
    "sentence-transformers",
    "torch",
    "numpy",
    "duckdb",
    "spacy",
)


@dataclass(frozen=True)
class TopicsResult:
    """What one topics call did."""

    model_id: str
    refit: bool
    tickets: int
    topics: int
    unclustered: int
    seconds: float
    groups: int = 0
    persisted: int = 0
    new: int = 0
    retired: int = 0
    agreement: float | None = None
    refit_reason: str | None = None


def update_topics(
    con: duckdb.DuckDBPyConnection,
    *,
    config: TopicsConfig,
    embedder: Embedder,
    models_dir: Path,
    known_issues: Sequence[KnownIssue] = (),
    refit: bool = False,
    auto_refit: bool = True,
    progress: Progress = no_progress,
    analyse: Analyse | None = None,
    coming: Coming | None = None,
) -> TopicsResult:
    """The topics stage: fit a new model when asked or due, else assign what is new or changed.

    A refit is due when `refit_due` says so. With `auto_refit` False (the nightly deployment,
    whose refits are left to the weekly one) a due refit is only reported in `refit_reason`,
    unless the current model cannot assign at all: there is none yet, or it was fitted on
    other embeddings (after switching profile or embedding model).
    """
    due = refit_due(con, config=config, embedding_model=embedder.name, known_issues=known_issues)
    current = current_model(con)
    unusable = current is None or current[2] != embedder.name
    if refit or (due and (auto_refit or unusable)):
        fitted = fit_topics(
            con,
            config=config,
            embedder=embedder,
            models_dir=models_dir,
            known_issues=known_issues,
            progress=progress,
            analyse=analyse,
            coming=coming,
        )
        return dataclasses.replace(fitted, refit_reason="asked for" if refit else due)
    assigned = assign_topics(con, config=config, embedding_model=embedder.name, progress=progress)
    return dataclasses.replace(assigned, refit_reason=due)


def fit_topics(
    con: duckdb.DuckDBPyConnection,
    *,
    config: TopicsConfig,
    embedder: Embedder,
    models_dir: Path,
    known_issues: Sequence[KnownIssue] = (),
    progress: Progress = no_progress,
    analyse: Analyse | None = None,
    coming: Coming | None = None,
) -> TopicsResult:
    """Fit a new topic model on the prepared tickets, save it, and store every assignment.

    Beyond `config.fit_sample` tickets the clustering, keywords and labels come from a sample
    stratified by month and channel (`fit_sample`), and the other tickets join their most
    similar topic under the outlier policy, as new tickets do in `assign_topics`.

    Known issues come first: a ticket whose similarity to a known issue (the mean embedding
    of its name, description and examples) reaches `known_threshold` is assigned to it; the
    other tickets are clustered, so that new issues still surface. Known issues keep their
    names as labels and `K-<name>` keys. Topics that persist from the previous model keep
    their key and label; see `persona_mining.topics.identity`. With `embedder`, labels are the
    noun phrases closest in meaning to each topic; without, the most distinctive ones.

    Keywords, keyphrases and labels come from the spaCy analysis (lemmas, noun phrases, names
    redacted) of at most `config.label_sample` tickets per topic, taken from the fit sample,
    and of each topic's representative tickets: `analyse` (default:
    `text.analysis.redact_for_display` with the default `[prepare]` section) is called with
    their ids before the topics are described, so the analysis grows with the number of
    topics, not of tickets; `coming`, if given, is told the fit sample's tickets before the
    clustering, in the order the label samples are drawn in (`label_order`), so that the
    analysis can get ready and begin meanwhile (the pipeline's worker processes analyse them in
    that order, `text.analysis.analyse_ahead`). With `config.merge_distance`, HDBSCAN's dense regions whose
    embedding centroids lie within that share of the median distance between two tickets are
    merged before the outlier policy (`merge_close_topics`). Unless `config.min_topic_size`
    sets it, the minimum topic size starts at 1% of the tickets and is halved while HDBSCAN
    leaves out distinct smaller issues, or (with `config.split_folded`) folds them into larger
    topics (`smaller_topics`); a refit of the same desk halves it as its previous model did
    (`previous_halvings`), a topic that folds distinct issues is split (`split_folded`, with
    `config.split_folded`), and the themes come from the clustering at the first size. Where
    the topics hold on average fewer tickets than a few UMAP neighbourhoods, the same steps run
    on a layout of `config.narrow_neighbors` too, and its issues are kept where more of the
    tickets use their topic's most used word; a refit of the same desk keeps the choice
    (`previous_neighbours`), and its layouts are guided by the topics that the previous model
    fitted (`previous_topics`, `config.refit_guidance`). The clustering needs only the
    embeddings and, with `config.word_weight`, the words of the prepared text (`_with_words`).
    """
    if analyse is None:
        analyse = functools.partial(_analyse_with_defaults, con)
    started = time.perf_counter()
    embedding_model = embedder.name
    ids, vectors = load_vectors(con, model=embedding_model)
    if len(ids) < MIN_TICKETS_TO_FIT:
        raise StageError(
            f"topics: {len(ids)} prepared and embedded tickets, at least {MIN_TICKETS_TO_FIT} are "
            "needed to fit a topic model; ingest more tickets, then run again"
        )
    sample = fit_sample(con, ids, size=config.fit_sample, seed=config.seed)
    # BERTopic's own c-TF-IDF at fit time is replaced below by the one on the analysed label
    # sample; the clustering needs only the vectors, so the rules-prepared text serves here.
    sample_texts = _prepared_texts(con, [ids[i] for i in sample])
    docs = [PLACEHOLDER_RE.sub(" ", t) for t in sample_texts]
    if coming is not None:
        coming([ids[i] for i in label_order(ids, sample, config.seed)])
    known = all_known_issues(con, known_issues)
    is_known, known_of = _match_known(vectors, known, embedder, config.known_threshold)
    rest = np.flatnonzero(~is_known[sample])  # positions in `sample` left to cluster
    min_topic_size = config.min_topic_size or max(SMALLEST_TOPIC, round(0.01 * len(rest)))
    progress(_CLUSTERING, 0, len(rest))
    # The fit sample's vectors with their words (None: the embeddings alone), row for row.
    sample_vectors = vectors[sample]
    with_words = _with_words(sample_texts, sample_vectors, embedder, config.word_weight)
    clustering = sample_vectors if with_words is None else with_words
    rest_docs = [docs[j] for j in rest]
    # A refit of the same desk is laid out guided by the topics its previous model fitted.
    guide = previous_topics(
        con, [ids[i] for i in sample[rest]], embedding_model, min_topic_size, config
    )
    model, found = fit_bertopic(rest_docs, clustering[rest], config, min_topic_size, guide)
    # The tickets' words, for the split and for the halving to count folded issues (and below,
    # where two layouts are compared, to choose between them).
    words = word_use(rest_docs) if config.split_folded else None
    # The themes come from HDBSCAN's own clustering at the size first tried, on the layout of
    # `n_neighbors`; the issues from the size the tickets ask for (`smaller_topics`), with the
    # topics that fold distinct issues together split (`split_folded`), on that layout or, where
    # its topics are small, on one of `narrow_neighbors` (`narrower_worth_trying`): the one
    # whose topics' words more of their tickets use. A refit of the same desk keeps the
    # previous model's choices (`previous_halvings`, `previous_neighbours`).
    halvings = previous_halvings(con, embedding_model, min_topic_size)
    remembered = previous_neighbours(con, embedding_model, min_topic_size, config)
    rest_vectors = sample_vectors[rest]

    def merged(topics: np.ndarray) -> np.ndarray:
        return merge_close_topics(topics, rest_vectors, config.merge_distance, seed=config.seed)

    neighbours, issues, issue_size = config.n_neighbors, found, min_topic_size
    if remembered != config.narrow_neighbors:
        layout = np.nan_to_num(model.umap_model.embedding_)
        issues, issue_size = _issues(
            layout, found, rest_vectors, words, config, min_topic_size, halvings
        )
    clustered = merged(issues)
    if remembered == config.narrow_neighbors or (
        remembered is None and narrower_worth_trying(clustered, config)
    ):
        if words is None:
            words = word_use(rest_docs)
        narrow = config.model_copy(update={"n_neighbors": config.narrow_neighbors})
        layout = fit_layout(clustering[rest], narrow, guide)
        narrow_found = np.asarray(
            clustering_model(narrow, min_topic_size).fit_predict(layout), dtype=np.int64
        )
        other, other_size = _issues(
            layout,
            narrow_found,
            rest_vectors,
            words,
            narrow,
            min_topic_size,
            halvings if remembered is not None else None,
        )
        other_clustered = merged(other)
        rest_words = None if with_words is None else with_words[rest]
        if remembered is not None or shared_words(
            other_clustered, rest_words, rest_vectors, words, config.outlier_threshold
        ) > shared_words(clustered, rest_words, rest_vectors, words, config.outlier_threshold):
            neighbours, issues, issue_size = config.narrow_neighbors, other, other_size
            clustered = other_clustered
    coarse = coarser_clustering(
        model, found, config, min_topic_size, finer=not np.array_equal(issues, found)
    )
    progress(_CLUSTERING, len(rest), len(rest))
    # Tickets outside the sample start as outliers: the outlier policy below gives them
    # their most similar topic, as `assign_topics` does for new tickets.
    assigned = np.full(len(ids), UNCLUSTERED, dtype=np.int64)
    assigned[sample[rest]] = clustered
    known_ids: dict[int, KnownIssue] = {}
    next_id = int(clustered.max()) + 1 if len(clustered) else 0
    for index in sorted(set(known_of[is_known].tolist())):
        known_ids[next_id] = known[index]
        assigned[is_known & (known_of == index)] = next_id
        next_id += 1
    if with_words is not None:
        # The sample's outliers join a topic close to them in the space they were clustered
        # in; the centroids kept (the other tickets, new tickets, refits, themes, labels) are
        # the embeddings' own.
        assigned[sample], _, _ = apply_outlier_policy(
            assigned[sample], with_words, config.outlier_threshold
        )
    assigned, similarity, centroids = apply_outlier_policy(
        assigned, vectors, config.outlier_threshold
    )
    topic_ids = sorted(centroids)
    # Keywords and labels are computed on at most `label_sample` tickets of each topic, from
    # the fit sample where the topic has them (a known issue may have none there), analysed
    # with the full spaCy pipeline (lemmas, noun phrases, names redacted) before describing.
    progress(_DESCRIBING, 0, len(topic_ids))
    representatives = _representatives(ids, assigned, similarity, topic_ids)
    labelled = label_sample(ids, assigned, sample, topic_ids, config.label_sample, config.seed)
    analyse([ids[i] for i in labelled] + [i for r in representatives.values() for i in r])
    labelled, texts, phrases = _texts_and_phrases(con, ids, labelled)
    # c-TF-IDF keywords come from spaCy's lemmas (crash, crashes and crashed count as one),
    # the redacted text where a ticket has none; labels come from its noun phrases.
    docs = [keyword_text(t) for t in texts]
    with quiet_bertopic():
        # BERTopic warns that custom assignments are final: they are, and the centroids are ours.
        model.update_topics(
            docs,
            topics=assigned[labelled].tolist(),
            top_n_words=config.top_n_words,
            vectorizer_model=vectorizer(len(docs)),
            ctfidf_model=ctfidf(),
        )
    model.topic_embeddings_ = np.vstack([centroids[t] for t in topic_ids])
    keywords = {
        t: [w for w, _ in (model.get_topic(t) or []) if presentable(w)][: config.top_n_words]
        for t in topic_ids
    }
    params = {
        **config.model_dump(mode="json"),
        "min_topic_size_used": issue_size,
        "n_neighbors_used": neighbours,
        "theme_topic_size_used": min_topic_size,
        "guided_tickets": 0 if guide is None else int(np.sum(guide != UNCLUSTERED)),
        # The known issues (config and warehouse) the fit matched first, by name and a digest of
        # what it matched them on: a change to them makes a refit due (`refit_due`).
        "known_issues": known_digests(known),
    }
    digest = hashlib.sha256(json.dumps([ids, params, embedding_model]).encode()).hexdigest()[:8]
    created = datetime.now(UTC).replace(tzinfo=None)
    model_id = f"topics-{created:%Y%m%dT%H%M%S}-{digest}"
    previous = _previous_topics(con, embedding_model=embedding_model, ids=ids, vectors=vectors)
    identities, retired = match_topics(
        {t: c for t, c in centroids.items() if t not in known_ids},
        previous,
        model_id=model_id,
        next_number=_next_key_number(con),
        threshold=config.match_threshold,
        retired=_retired_topics(
            con, embedding_model=embedding_model, persisting={p.key for p in previous}
        ),
    )
    identities.update(_known_identities(con, known_ids, model_id))
    # A topic that keeps its key keeps its label; the others' labels differ from those.
    described = describe_topics(
        assigned[labelled],
        phrases,
        keywords,
        centroids,
        embed=embedder.encode,
        fixed=kept_labels(identities, known_ids),
    )
    progress(_DESCRIBING, len(topic_ids), len(topic_ids))
    labels = {t: described[t].label for t in topic_ids}
    model.set_topic_labels(labels)
    sizes = Counter(assigned.tolist())
    fresh = (
        functools.partial(
            _coarse_themes,
            coarse,
            sample[rest],
            sample,
            with_words,
            vectors,
            assigned,
            centroids,
            config,
        )
        if coarse is not None and config.group_distance <= 0
        else None
    )
    groups = keep_themes(
        centroids,
        dict(sizes),
        {t: identities[t].key for t in topic_ids},
        _previous_theme_of_topics(con),
        distance=config.group_distance,
        fresh=fresh,
    )
    theme_keys = match_themes(
        {
            group: {identities[t].key: sizes[t] for t in topic_ids if groups[t] == group}
            for group in set(groups.values()) - {UNCLUSTERED}
        },
        _previous_themes(con),
        next_number=_next_theme_number(con),
    )
    agreement = _assignment_agreement(assigned, vectors, centroids)
    window = con.execute(
        "SELECT min(created_at), max(created_at) FROM tickets WHERE ticket_id IN (SELECT ticket_id FROM prepared_tickets)"
    ).fetchone()
    manifest = {
        "model_id": model_id,
        "created_at": created.isoformat(),
        "embedding_model": embedding_model,
        "n_tickets": len(ids),
        "fit_tickets": len(sample),
        "label_tickets": len(labelled),
        "n_topics": len([t for t in topic_ids if t != UNCLUSTERED]),
        "unclustered": sizes.get(UNCLUSTERED, 0),
        "data_window": [str(window[0]) if window else None, str(window[1]) if window else None],
        "params": params,
        "metrics": {
            "assignment_agreement": agreement,
            "coverage": 1 - sizes.get(UNCLUSTERED, 0) / len(ids),
        },
        "topics": [
            {
                "topic_id": t,
                "topic_key": identities[t].key,
                "label": labels[t],
                "size": sizes[t],
                "group_id": groups[t],
            }
            for t in topic_ids
        ],
        "versions": _versions(),
    }
    path = _save(model, manifest, models_dir / model_id)
    with transaction(con):
        con.execute(
            """INSERT INTO topic_models (model_id, created_at, path, embedding_model, n_tickets, n_topics,
                data_from, data_to, params) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                model_id,
                created,
                str(path),
                embedding_model,
                len(ids),
                manifest["n_topics"],
                window[0] if window else None,
                window[1] if window else None,
                json.dumps(params),
            ],
        )
        con.executemany(
            """INSERT INTO topics (model_id, topic_id, label, keywords, size, topic_key, first_model_id,
                last_model_id, group_id, keyphrases, representative_tickets, base_label, known)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                [
                    model_id,
                    t,
                    labels[t],
                    keywords[t],
                    sizes[t],
                    identities[t].key,
                    identities[t].first_model_id,
                    model_id,
                    groups[t],
                    list(described[t].keyphrases),
                    representatives[t],
                    labels[t],
                    t in known_ids,
                ]
                for t in topic_ids
            ],
        )
        persisted = [
            identities[t].key for t in topic_ids if identities[t].first_model_id != model_id
        ]
        if persisted:
            con.execute(
                "UPDATE topics SET last_model_id = ? WHERE list_contains(?, topic_key)",
                [model_id, persisted],
            )
        con.executemany(
            """INSERT INTO topic_groups (model_id, group_id, label, topics, size, theme_key)
            VALUES (?, ?, ?, ?, ?, ?)""",
            _group_rows(model_id, groups, labels, sizes, theme_keys),
        )
        _store_assignments(con, model_id, ids, assigned, similarity, fitted=True)
    n_real = len(topic_ids) - (UNCLUSTERED in topic_ids)
    return TopicsResult(
        model_id=model_id,
        refit=True,
        tickets=len(ids),
        topics=n_real,
        unclustered=sizes.get(UNCLUSTERED, 0),
        seconds=time.perf_counter() - started,
        groups=len({g for g in groups.values() if g != UNCLUSTERED}),
        persisted=len([k for k in persisted if k != UNCLUSTERED_KEY]),
        new=n_real - len([k for k in persisted if k != UNCLUSTERED_KEY]),
        retired=len(retired),
        agreement=agreement,
    )


def shared_words(
    clustered: np.ndarray,
    with_words: np.ndarray | None,
    vectors: np.ndarray,
    words: csr_matrix | None,
    threshold: float,
) -> float:
    """`top_word_share` of the topics once the outlier policy has run on the same tickets (in
    the space they were clustered in, then on the embeddings), as `fit_topics` runs it: the
    measure by which it chooses between two layouts."""
    if with_words is not None:
        clustered, _, _ = apply_outlier_policy(clustered, with_words, threshold)
    clustered, _, _ = apply_outlier_policy(clustered, vectors, threshold)
    return top_word_share(clustered, words)


def _issues(
    layout: np.ndarray,
    found: np.ndarray,
    vectors: np.ndarray,
    words: csr_matrix | None,
    config: TopicsConfig,
    min_topic_size: int,
    halvings: int | None,
) -> tuple[np.ndarray, int]:
    """The issues of one layout, and the minimum topic size they were clustered at.

    HDBSCAN's topics at `min_topic_size` (`found`) where the config sets the size or the
    first size is the smallest; otherwise at the size the tickets ask for (`smaller_topics`,
    told `halvings` by a refit of the same desk), and, with `config.split_folded`, with the
    topics that fold distinct issues together split (`split_folded`).
    """
    if config.min_topic_size or min_topic_size <= SMALLEST_TOPIC:
        return found, min_topic_size
    used = words if config.split_folded else None
    # HDBSCAN's finest clustering, read by the halving (unless a refit is told how many) and
    # by the split.
    finest = finest_clustering(layout, config) if halvings is None or used is not None else None
    issues, size = smaller_topics(
        layout, vectors, found, config, min_topic_size, halvings, finest, used
    )
    if finest is not None and used is not None:
        issues = split_folded(issues, finest, used, size)
    return issues, size


def _coarse_themes(
    coarse: np.ndarray,
    clustered_at: np.ndarray,
    sample: np.ndarray,
    with_words: np.ndarray | None,
    vectors: np.ndarray,
    assigned: np.ndarray,
    centroids: dict[int, np.ndarray],
    config: TopicsConfig,
) -> dict[int, int] | None:
    """Themes from the coarser clustering of the tickets at `clustered_at`
    (`clustering.coarser_clustering`), for `identity.themes_from_coarser`.

    Its topics get the outlier policy the topics get (the sample's outliers in the space they
    were clustered in, then every ticket on the embeddings), so that they are the topics that
    HDBSCAN's own density neighbourhood would have given.
    """
    if not (coarse != UNCLUSTERED).any():
        return None
    coarse_of = np.full(len(vectors), UNCLUSTERED, dtype=np.int64)
    coarse_of[clustered_at] = coarse
    if with_words is not None:
        coarse_of[sample], _, _ = apply_outlier_policy(
            coarse_of[sample], with_words, config.outlier_threshold
        )
    coarse_of, _, coarse_centroids = apply_outlier_policy(
        coarse_of, vectors, config.outlier_threshold
    )
    return themes_from_coarser(assigned, coarse_of, coarse_centroids, centroids)


def _with_words(
    texts: Sequence[str], vectors: np.ndarray, embedder: Embedder, weight: float
) -> np.ndarray | None:
    """The vectors tickets are clustered on: their embeddings `vectors` with the word vectors
    of their prepared `texts` (`SentenceTransformerEmbedder.word_vectors`) appended at
    `weight`, each row a unit vector; None when the weight is 0 or the embedder has no word
    vectors (a static model is one already): the embeddings alone."""
    word_vectors = getattr(embedder, "word_vectors", None)
    if weight <= 0 or word_vectors is None:
        return None
    try:
        words = word_vectors(texts)
    except ModelError as e:  # a model without word-piece vectors: the embeddings alone
        _LOG.warning("topics: clustering on the embeddings alone: %s", e)
        return None
    return unit_rows(np.hstack([vectors, np.float32(weight) * words]))


def fit_sample(
    con: duckdb.DuckDBPyConnection, ids: Sequence[str], *, size: int, seed: int = 0
) -> np.ndarray:
    """Positions in `ids` of at most `size` tickets, stratified by month and channel.

    Each stratum (calendar month of `created_at` x channel) gets its share of the sample,
    rounded by largest remainder; within it the tickets are taken in the order of a hash of
    their id and `seed`, so the same data gives the same sample on every refit, and a ticket
    added later does not reshuffle the others. All positions when `size` is 0 or not smaller
    than the number of tickets.
    """
    if size <= 0 or len(ids) <= size:
        return np.arange(len(ids))
    found = _by_position(
        con,
        ids,
        """SELECT i.position, coalesce(strftime(t.created_at, '%Y-%m'), '') || '|' ||
            coalesce(t.channel, '') AS value
        FROM __ids i JOIN tickets t USING (ticket_id)""",
    )
    strata = np.full(len(ids), "", dtype=object)
    strata[np.asarray(found["position"], dtype=np.int64)] = np.asarray(found["value"], dtype=object)
    _, stratum, counts = np.unique(strata.astype(str), return_inverse=True, return_counts=True)
    exact = counts * size / len(ids)
    quota = np.floor(exact).astype(np.int64)
    short = size - int(quota.sum())
    quota[np.argsort(-(exact - quota), kind="stable")[:short]] += 1
    keys = np.array([zlib.crc32(f"{seed}:{i}".encode()) for i in ids], dtype=np.int64)
    order = np.lexsort((keys, stratum))  # by stratum, then hash
    first = np.searchsorted(stratum[order], np.arange(len(counts)))
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids)) - first[stratum[order]]
    return np.flatnonzero(rank < quota[stratum])


def _by_position(
    con: duckdb.DuckDBPyConnection, ids: Sequence[str], query: str, params: Sequence[object] = ()
) -> dict[str, np.ndarray]:
    """Columns `position` (index into `ids`) and `value` of `query`, which joins `__ids`."""
    con.register("__ids", pa.table({"ticket_id": list(ids), "position": np.arange(len(ids))}))
    try:
        return con.execute(query, list(params)).fetchnumpy()
    finally:
        con.unregister("__ids")


def all_known_issues(
    con: duckdb.DuckDBPyConnection, configured: Sequence[KnownIssue]
) -> list[KnownIssue]:
    """Known issues of the config, then those imported into the warehouse, by unique name."""
    imported = [
        KnownIssue(name=name, description=description or "", examples=tuple(examples or ()))
        for name, description, examples in con.execute(
            "SELECT name, description, examples FROM known_issues ORDER BY name"
        ).fetchall()
    ]
    seen: set[str] = set()
    out = []
    for issue in [*configured, *imported]:
        if issue.name not in seen:
            seen.add(issue.name)
            out.append(issue)
    return out


def _match_known(
    vectors: np.ndarray, known: list[KnownIssue], embedder: Embedder, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Which tickets a known issue takes, and which one (index into `known`)."""
    if not known:
        return np.zeros(len(vectors), dtype=bool), np.zeros(len(vectors), dtype=np.int64)
    centers = np.vstack(
        [
            unit(
                embedder.encode(
                    [i.name, *([i.description] if i.description else []), *i.examples]
                ).mean(axis=0)
            )
            for i in known
        ]
    )
    similarity = vectors @ centers.T
    best = similarity.argmax(axis=1)
    return similarity.max(axis=1) >= threshold, best.astype(np.int64)


def kept_labels(identities: Mapping[int, Identity], known: Mapping[int, Any]) -> dict[int, str]:
    """The labels a fit keeps: known issues' names, then the labels the topics that keep their
    key inherit, but for one alike a label kept before it (twins an earlier version gave two
    topics: the second is labelled anew)."""
    kept = {t: i.inherited_label for t, i in identities.items() if t in known and i.inherited_label}
    taken = {label_key(label) for label in kept.values()}
    for topic in sorted(identities):
        label = identities[topic].inherited_label
        if topic in kept or not label or label_key(label) in taken:
            continue
        kept[topic] = label
        taken.add(label_key(label))
    return kept


def _known_identities(
    con: duckdb.DuckDBPyConnection, known_ids: dict[int, KnownIssue], model_id: str
) -> dict[int, Identity]:
    """Known issues keep the key `K-<name>` and their name as label, in every model."""
    identities = {}
    for topic, issue in known_ids.items():
        key = f"K-{segment_id(issue.name)}"
        first = con.execute(
            "SELECT min(first_model_id) FROM topics WHERE topic_key = ?", [key]
        ).fetchall()[0][0]
        identities[topic] = Identity(key, first or model_id, issue.name)
    return identities


def _previous_topics(
    con: duckdb.DuckDBPyConnection,
    *,
    embedding_model: str,
    ids: Sequence[str],
    vectors: np.ndarray,
) -> list[PreviousTopic]:
    """The current model's topics with their centroids, before a refit replaces it.

    When the current model was fitted on other embeddings (the profile or the embedding model
    changed), its centroids live in another space: they are recomputed from its assignments
    with the new vectors, so that topics still keep their keys and labels across the switch.
    """
    current = current_model(con)
    if current is None:
        return []
    model_id, path, fitted_on = current
    if fitted_on == embedding_model:
        try:
            topic_ids, centroids = load_centroids(Path(path))
        except ModelError:
            return []  # the folder is gone: the refit starts new keys, nothing else breaks
        by_topic = dict(zip(topic_ids, centroids, strict=True))
    else:
        found = _by_position(
            con,
            ids,
            # As the model fitted them, before edits: a split's sub-topics and a merge's
            # target are not topics of the fit (the edits are replayed on the refit).
            "SELECT i.position, coalesce(tt.base_topic_id, tt.topic_id) AS value FROM __ids i "
            "JOIN ticket_topics tt USING (ticket_id) WHERE tt.model_id = ?",
            [model_id],
        )
        positions = np.asarray(found["position"], dtype=np.int64)
        topics = np.asarray(found["value"], dtype=np.int64)
        by_topic = {
            int(t): unit(vectors[positions[topics == t]].mean(axis=0)) for t in np.unique(topics)
        }
    rows = {
        r[0]: (r[1], r[2], r[3])
        for r in con.execute(
            # The label as fitted: renames are edits, replayed on the refit (and undone there).
            "SELECT topic_id, topic_key, coalesce(base_label, label), first_model_id FROM topics "
            "WHERE model_id = ?",
            [model_id],
        ).fetchall()
    }
    return [
        PreviousTopic(
            key=rows[t][0], label=rows[t][1], first_model_id=rows[t][2] or model_id, centroid=c
        )
        for t, c in sorted(by_topic.items())
        if t != UNCLUSTERED and t in rows and rows[t][0] and not rows[t][0].startswith("K-")
    ]


def _retired_topics(
    con: duckdb.DuckDBPyConnection, *, embedding_model: str, persisting: set[str]
) -> list[PreviousTopic]:
    """Topics that earlier refits retired, with their centroids in the model they were last
    fitted in: those fitted on the same embeddings whose folder is still there (another
    space's centroids cannot be compared)."""
    rows = con.execute(
        """SELECT t.topic_key, t.topic_id, coalesce(t.base_label, t.label),
            coalesce(t.first_model_id, t.model_id), m.path
        FROM topics t JOIN topic_models m USING (model_id)
        WHERE t.model_id = t.last_model_id AND m.embedding_model = ? AND t.topic_id <> ?
            AND t.topic_key LIKE 'T%' AND t.split_from IS NULL
            AND t.model_id <> (SELECT model_id FROM v_current_model)
        ORDER BY t.topic_key""",
        [embedding_model, UNCLUSTERED],
    ).fetchall()
    folders: dict[str, dict[int, np.ndarray]] = {}
    retired = []
    for key, topic_id, label, first_model_id, path in rows:
        if key in persisting:
            continue
        if path not in folders:
            try:
                topic_ids, centroids = load_centroids(Path(path))
            except ModelError:
                topic_ids, centroids = [], np.zeros((0, 0), dtype=np.float32)
            folders[path] = dict(zip(topic_ids, centroids, strict=True))
        if topic_id in folders[path]:
            retired.append(PreviousTopic(key, label, first_model_id, folders[path][topic_id]))
    return retired


def _next_key_number(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute(
        "SELECT max(TRY_CAST(substr(topic_key, 2) AS INTEGER)) FROM topics WHERE topic_key LIKE 'T%'"
    ).fetchall()
    return (row[0][0] or 0) + 1


def _assignment_agreement(
    assigned: np.ndarray, vectors: np.ndarray, centroids: dict[int, np.ndarray]
) -> float | None:
    """Share of clustered training tickets that the saved model (nearest centroid) agrees on."""
    real = [t for t in sorted(centroids) if t != UNCLUSTERED]
    clustered = assigned != UNCLUSTERED
    if not real or not clustered.any():
        return None
    # Every ticket's scores, then the clustered ones: (tickets x topics) is small, where
    # `vectors[clustered]` would copy the vectors (a gigabyte at a million tickets).
    nearest = np.array(real)[(vectors @ np.vstack([centroids[t] for t in real]).T).argmax(axis=1)]
    return float((nearest[clustered] == assigned[clustered]).mean())


def _representatives(
    ids: Sequence[str],
    assigned: np.ndarray,
    similarity: np.ndarray,
    topic_ids: list[int],
    n: int = 3,
) -> dict[int, list[str]]:
    """The tickets closest to each topic's centroid."""
    out: dict[int, list[str]] = {}
    for topic in topic_ids:
        members = np.flatnonzero(assigned == topic)
        best = members[np.argsort(-similarity[members], kind="stable")[:n]]
        out[topic] = [ids[i] for i in best]
    return out


def _group_rows(
    model_id: str,
    groups: dict[int, int],
    labels: dict[int, str],
    sizes: Counter[int],
    theme_keys: dict[int, str],
) -> list[list[object]]:
    rows = []
    for group in sorted(set(groups.values())):
        members = [t for t, g in groups.items() if g == group]
        rows.append(
            [
                model_id,
                group,
                theme_label([(labels[t], sizes[t]) for t in members]),
                len(members),
                sum(sizes[t] for t in members),
                theme_keys.get(group),
            ]
        )
    return rows


def _previous_themes(con: duckdb.DuckDBPyConnection) -> list[PreviousTheme]:
    """The current model's themes that carry a key, with their topics' keys and sizes."""
    current = current_model(con)
    if current is None:
        return []
    rows = con.execute(
        """SELECT g.theme_key, t.topic_key, t.size FROM topic_groups g
        JOIN topics t ON t.model_id = g.model_id AND t.group_id = g.group_id
        WHERE g.model_id = ? AND g.theme_key IS NOT NULL AND t.topic_id <> -1
          AND t.topic_key IS NOT NULL AND coalesce(t.active, true)""",
        [current[0]],
    ).fetchall()
    members: dict[str, dict[str, int]] = {}
    for theme, topic, size in rows:
        members.setdefault(theme, {})[topic] = int(size)
    return [PreviousTheme(key, topics) for key, topics in sorted(members.items())]


def _previous_theme_of_topics(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The theme key of each topic key of the current model, before a refit replaces it."""
    current = current_model(con)
    if current is None:
        return {}
    rows = con.execute(
        """SELECT t.topic_key, g.theme_key FROM topics t
        JOIN topic_groups g ON g.model_id = t.model_id AND g.group_id = t.group_id
        WHERE t.model_id = ? AND t.topic_id <> -1 AND g.theme_key IS NOT NULL
          AND t.topic_key IS NOT NULL AND coalesce(t.active, true)""",
        [current[0]],
    ).fetchall()
    return {str(topic): str(theme) for topic, theme in rows}


def _next_theme_number(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute(
        "SELECT max(TRY_CAST(substr(theme_key, 2) AS INTEGER)) FROM topic_groups "
        "WHERE theme_key LIKE 'G%'"
    ).fetchall()
    return (row[0][0] or 0) + 1


def assign_topics(
    con: duckdb.DuckDBPyConnection,
    *,
    config: TopicsConfig,
    embedding_model: str,
    progress: Progress = no_progress,
) -> TopicsResult:
    """Assign, with the current model, every prepared ticket that is new or changed since."""
    started = time.perf_counter()
    current = current_model(con)
    if current is None:
        raise StageError("topics: no topic model yet; fit one first (`persona-mining run --refit`)")
    model_id, path, model_embedding = current
    if model_embedding != embedding_model:
        raise StageError(
            f"topics: the current model {model_id} was fitted on {model_embedding} embeddings, not "
            f"{embedding_model}; refit (`persona-mining run --refit`) after changing the embedding model"
        )
    pending = [
        r[0]
        for r in con.execute(
            """SELECT p.ticket_id FROM prepared_tickets p WHERE NOT EXISTS (
                SELECT 1 FROM ticket_topics tt WHERE tt.ticket_id = p.ticket_id
                AND tt.model_id = ? AND tt.text_hash = p.text_hash)""",
            [model_id],
        ).fetchall()
    ]
    ids, vectors = load_vectors(con, model=embedding_model, ticket_ids=pending)
    topic_ids, centroids = load_centroids(Path(path))
    if ids:
        similarity = vectors @ centroids.T
        real = np.array([t != UNCLUSTERED for t in topic_ids])
        similarity[:, ~real] = -np.inf
        best = similarity.argmax(axis=1)
        best_similarity = similarity[np.arange(len(ids)), best]
        assigned = np.where(
            best_similarity >= config.outlier_threshold, np.array(topic_ids)[best], UNCLUSTERED
        )
        with transaction(con):
            _store_assignments(con, model_id, ids, assigned, best_similarity, fitted=False)
            if (assigned == UNCLUSTERED).any():
                _ensure_unclustered(con, model_id)
    progress("assign", len(ids), len(ids))
    unclustered = con.execute(
        "SELECT count(*) FROM ticket_topics WHERE model_id = ? AND topic_id = ?",
        [model_id, UNCLUSTERED],
    ).fetchone()
    return TopicsResult(
        model_id=model_id,
        refit=False,
        tickets=len(ids),
        topics=len([t for t in topic_ids if t != UNCLUSTERED]),
        unclustered=unclustered[0] if unclustered else 0,
        seconds=time.perf_counter() - started,
    )


def _ensure_unclustered(con: duckdb.DuckDBPyConnection, model_id: str) -> None:
    """The "Unclustered" topic (-1) and its theme, where a model whose fit left no ticket
    unclustered now has new tickets that join no topic: without it they would drop out of
    every view that joins the topics (`v_ticket_topics`, `v_topics`)."""
    count = con.execute(
        "SELECT count(*) FROM ticket_topics WHERE model_id = ? AND topic_id = ?",
        [model_id, UNCLUSTERED],
    ).fetchall()[0][0]
    con.execute(
        """INSERT INTO topics (model_id, topic_id, label, keywords, size, topic_key, first_model_id,
            last_model_id, group_id, keyphrases, representative_tickets, base_label, known)
        SELECT ?, ?, ?, [], ?, ?, ?, ?, ?, [], [], ?, false
        WHERE NOT EXISTS (SELECT 1 FROM topics WHERE model_id = ? AND topic_id = ?)""",
        [
            model_id,
            UNCLUSTERED,
            UNCLUSTERED_LABEL,
            count,
            UNCLUSTERED_KEY,
            model_id,
            model_id,
            UNCLUSTERED,
            UNCLUSTERED_LABEL,
            model_id,
            UNCLUSTERED,
        ],
    ).fetchall()
    con.execute(
        """INSERT INTO topic_groups (model_id, group_id, label, topics, size, theme_key)
        SELECT ?, ?, ?, 1, ?, NULL
        WHERE NOT EXISTS (SELECT 1 FROM topic_groups WHERE model_id = ? AND group_id = ?)""",
        [model_id, UNCLUSTERED, UNCLUSTERED_LABEL, count, model_id, UNCLUSTERED],
    ).fetchall()


def refit_due(
    con: duckdb.DuckDBPyConnection,
    *,
    config: TopicsConfig,
    embedding_model: str | None = None,
    known_issues: Sequence[KnownIssue] | None = None,
) -> str | None:
    """Why the topic model should be refitted now, or None when the current one will do.

    A refit is due when there is no model, when it was fitted on another embedding model
    than `embedding_model` (e.g. after switching profile), when the known issues (those of
    `known_issues`, the config's, and those imported into the warehouse) are not the ones it
    was fitted with (a model fitted before this was recorded is taken as fitted with them),
    when it is older than `refit_after_days`, or when more than `refit_unclustered_share` of
    the (at least 50) tickets assigned since the fit fit no topic: the issues have drifted.
    """
    row = con.execute(
        """SELECT model_id, created_at, date_diff('day', created_at, now()::TIMESTAMP),
            embedding_model, params
        FROM v_current_model"""
    ).fetchall()
    if not row:
        return "no topic model yet"
    model_id, created, age, fitted_on, params = row[0]
    if embedding_model is not None and fitted_on != embedding_model:
        return (
            f"the model was fitted on {fitted_on} embeddings, the config now uses {embedding_model}"
        )
    fitted_known = _json_object(params).get("known_issues")
    if known_issues is not None and isinstance(fitted_known, dict):
        wanted = known_digests(all_known_issues(con, known_issues))
        added = sorted(set(wanted) - set(fitted_known))
        removed = sorted(set(fitted_known) - set(wanted))
        reworded = sorted(
            n for n in set(wanted) & set(fitted_known) if wanted[n] != fitted_known[n]
        )
        if added or removed or reworded:
            change = "; ".join(
                f"{what} {', '.join(repr(n) for n in names)}"
                for what, names in (("new", added), ("gone", removed), ("reworded", reworded))
                if names
            )
            return f"the known issues changed since the fit ({change})"
    if age >= config.refit_after_days:
        return f"the model is {age} days old (refit_after_days = {config.refit_after_days})"
    drift = con.execute(
        """SELECT count(*), count(*) FILTER (WHERE tt.topic_id = ?) FROM ticket_topics tt
        JOIN prepared_tickets p USING (ticket_id)
        WHERE tt.model_id = ? AND p.prepared_at > ?""",
        [UNCLUSTERED, model_id, created],
    ).fetchall()[0]
    if drift[0] >= 50 and drift[1] / drift[0] > config.refit_unclustered_share:
        return (
            f"{drift[1]} of {drift[0]} tickets assigned since the fit are unclustered "
            f"(refit_unclustered_share = {config.refit_unclustered_share})"
        )
    return None


def known_digests(issues: Sequence[KnownIssue]) -> dict[str, str]:
    """Each known issue's name and a digest of its description and examples, what a fit
    matches tickets on."""
    return {
        issue.name: hashlib.sha256(
            json.dumps([issue.description, list(issue.examples)]).encode()
        ).hexdigest()[:12]
        for issue in issues
    }


def _json_object(text: object) -> dict[str, Any]:
    """A JSON object stored as text (a model's params), or {} where it is none."""
    try:
        value = json.loads(str(text)) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


#: A refit keeps its previous model's granularity while the minimum topic size it starts
#: from is within this factor of the previous one's.
SAME_DESK = 1.5


def previous_neighbours(
    con: duckdb.DuckDBPyConnection, embedding_model: str, min_topic_size: int, config: TopicsConfig
) -> int | None:
    """The UMAP neighbourhood that the current model's issues were clustered on, for a refit
    of the same desk (as `previous_halvings`) with the same `n_neighbors` and
    `narrow_neighbors` to use again; None (decide afresh) otherwise.

    The choice between the two layouts compares the share of tickets that use their topic's
    word; near a tie, a refit could choose the other layout and cut every issue anew.
    """
    used = _same_desk_params(con, embedding_model, min_topic_size)
    if used is None or not _unchanged(used, config, ("n_neighbors", "narrow_neighbors")):
        return None
    try:
        return int(used["n_neighbors_used"])
    except (KeyError, TypeError, ValueError):
        return None


#: The `[topics]` settings that shape how the tickets are cut into topics; a refit after a
#: change to any of them is laid out afresh (`previous_topics`).
CLUSTERING_SETTINGS = (
    "min_topic_size",
    "min_samples",
    "merge_distance",
    "n_neighbors",
    "narrow_neighbors",
    "n_components",
    "outlier_threshold",
    "fit_sample",
    "umap_epochs",
    "umap_negative_sample_rate",
    "word_weight",
    "split_folded",
)


def previous_topics(
    con: duckdb.DuckDBPyConnection,
    ticket_ids: Sequence[str],
    embedding_model: str,
    min_topic_size: int,
    config: TopicsConfig,
) -> np.ndarray | None:
    """The topic that the current model's fit gave each of `ticket_ids`, to guide a refit's
    layouts (`[topics] refit_guidance`); -1 where it gave none (unclustered) and where the
    ticket is new or changed since (assigned by nearest centroid, or not yet). Topics as
    fitted, before any edit (`base_topic_id`): the edits are replayed on the new model.

    None (lay the tickets out afresh) with `refit_guidance` 0, for a first fit, after a model
    of other embeddings or of a desk whose size has changed by more than `SAME_DESK` (as
    `previous_halvings`: the granularity is chosen anew there), after a model fitted with
    other settings of the clustering (`CLUSTERING_SETTINGS`: whoever changed them asked for
    other topics), or where no ticket has a fitted topic.

    New tickets guide nothing because their topic is the nearest centroid's, not a
    clustering's: an issue that arose since the fit is spread over the topics nearest to it,
    and guided by them it would be cut apart instead of forming a topic of its own.
    """
    if config.refit_guidance <= 0 or not ticket_ids:
        return None
    used = _same_desk_params(con, embedding_model, min_topic_size)
    if used is None or not _unchanged(used, config, CLUSTERING_SETTINGS):
        return None
    con.register(
        "__fit_tickets",
        pa.table({"ticket_id": list(ticket_ids), "position": pa.array(range(len(ticket_ids)))}),
    )
    try:
        rows = con.execute(
            """SELECT f.position, tt.base_topic_id
            FROM __fit_tickets f
            JOIN ticket_topics tt USING (ticket_id)
            JOIN v_current_model m USING (model_id)
            JOIN prepared_tickets p ON p.ticket_id = tt.ticket_id AND p.text_hash = tt.text_hash
            WHERE tt.fitted AND tt.base_topic_id <> ?""",
            [UNCLUSTERED],
        ).fetchall()
    finally:
        con.unregister("__fit_tickets")
    if not rows:
        return None
    guide = np.full(len(ticket_ids), UNCLUSTERED, dtype=np.int64)
    positions, topics = zip(*rows, strict=True)
    guide[list(positions)] = topics
    return guide


def _unchanged(used: dict[str, Any], config: TopicsConfig, keys: Sequence[str]) -> bool:
    """Whether the model's parameters `used` record the same value as `config` for each of
    `keys` (a key it did not record is not the same)."""
    settings = config.model_dump(mode="json")
    return all(key in used and used[key] == settings[key] for key in keys)


def _same_desk_params(
    con: duckdb.DuckDBPyConnection, embedding_model: str, min_topic_size: int
) -> dict[str, Any] | None:
    """The current model's parameters where it was fitted on the same embeddings and on a desk
    of about the same size (its first minimum topic size within `SAME_DESK` of
    `min_topic_size`); None otherwise."""
    rows = con.execute("SELECT embedding_model, params FROM v_current_model").fetchall()
    if not rows or rows[0][0] != embedding_model:
        return None
    try:
        used = json.loads(rows[0][1] or "{}")
        first = int(used["theme_topic_size_used"])
    except (KeyError, TypeError, ValueError):
        return None
    return used if first / SAME_DESK <= min_topic_size <= first * SAME_DESK else None


def previous_halvings(
    con: duckdb.DuckDBPyConnection, embedding_model: str, min_topic_size: int
) -> int | None:
    """How many times the current model halved its minimum topic size, for a refit to do
    the same; None (decide afresh) for a first fit, a model of other embeddings or of a
    version that did not record it, or a desk whose size has changed by more than
    `SAME_DESK` since.

    The choice of `smaller_topics` is a threshold on the tickets left out. Near it, a refit
    on nearly the same tickets could choose the other side and cut every issue anew, and
    most tickets would lose their topic key.
    """
    used = _same_desk_params(con, embedding_model, min_topic_size)
    if used is None:
        return None
    try:
        first, issue = int(used["theme_topic_size_used"]), int(used["min_topic_size_used"])
        chosen = used["min_topic_size"] == 0  # not a size set in the config
    except (KeyError, TypeError, ValueError):
        return None
    return halvings_between(first, issue) if chosen else None


def current_model(con: duckdb.DuckDBPyConnection) -> tuple[str, str, str] | None:
    """(model_id, path, embedding model) of the current topic model, or None."""
    # fetchall: DuckDB 2.0 keeps a connection busy until a result is read to its end.
    rows = con.execute("SELECT model_id, path, embedding_model FROM v_current_model").fetchall()
    return (rows[0][0], rows[0][1], rows[0][2]) if rows else None


def load_centroids(path: Path) -> tuple[list[int], np.ndarray]:
    """Topic ids and their unit-length centroid rows, from a saved model folder."""
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path / "bertopic" / "topic_embeddings.safetensors"))
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(
            f"topic model {path}: cannot be read ({e}); refit with `persona-mining run --refit`"
        ) from e
    try:
        topic_ids = [int(t["topic_id"]) for t in manifest["topics"]]
        centroids = tensors["topic_embeddings"].astype(np.float32)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(
            f"topic model {path}: saved in a format this version cannot read (no {e} in its "
            "manifest or tensors); refit with `persona-mining run --refit`"
        ) from e
    if len(topic_ids) != len(centroids):
        raise ModelError(
            f"topic model {path}: its manifest lists {len(topic_ids)} topics but it holds "
            f"{len(centroids)} centroids; refit with `persona-mining run --refit`"
        )
    return topic_ids, centroids


def label_sample(
    ids: Sequence[str],
    assigned: np.ndarray,
    sample: np.ndarray,
    topic_ids: Sequence[int],
    per_topic: int,
    seed: int = 0,
) -> np.ndarray:
    """Positions in `ids` of at most `per_topic` tickets of each topic (0: no limit).

    Taken from the fit sample where the topic has tickets there (a known issue may have none
    in it; then from all its tickets), in the order of a hash of the ticket id and `seed`, so
    that the same tickets describe a topic on every refit and no ticket is favoured.
    """
    in_sample = np.zeros(len(ids), dtype=bool)
    in_sample[sample] = True
    chosen = []
    for topic in topic_ids:
        members = np.flatnonzero((assigned == topic) & in_sample)
        if not len(members):
            members = np.flatnonzero(assigned == topic)
        if per_topic > 0 and len(members) > per_topic:
            keys = _label_keys(ids, members, seed)
            members = np.sort(members[np.argsort(keys, kind="stable")[:per_topic]])
        chosen.append(members)
    return np.unique(np.concatenate(chosen)) if chosen else np.array([], dtype=np.int64)


def label_order(ids: Sequence[str], sample: np.ndarray, seed: int = 0) -> np.ndarray:
    """The positions `sample` (in `ids`) in the order `label_sample` draws from: a topic's
    label sample is its first tickets in this order, whatever the topics turn out to be."""
    return sample[np.argsort(_label_keys(ids, sample, seed), kind="stable")]


def _label_keys(ids: Sequence[str], positions: np.ndarray, seed: int) -> np.ndarray:
    return np.array(
        [zlib.crc32(f"{seed}:{ids[int(i)]}".encode()) for i in positions], dtype=np.int64
    )


def _analyse_with_defaults(con: duckdb.DuckDBPyConnection, ticket_ids: Sequence[str]) -> object:
    from persona_mining.text.analysis import redact_for_display

    return redact_for_display(con, ticket_ids=ticket_ids)


def _prepared_texts(con: duckdb.DuckDBPyConnection, ids: Sequence[str]) -> list[str]:
    """The prepared (rules-cleaned) text of each ticket, in the order of `ids`."""
    con.register("__ids", pa.table({"ticket_id": list(ids)}))
    try:
        found = dict(
            con.execute(
                "SELECT ticket_id, p.text FROM __ids JOIN prepared_tickets p USING (ticket_id)"
            ).fetchall()
        )
    finally:
        con.unregister("__ids")
    return [found.get(i, "") for i in ids]


def _texts_and_phrases(
    con: duckdb.DuckDBPyConnection, ids: Sequence[str], positions: np.ndarray
) -> tuple[np.ndarray, list[str], list[list[str]]]:
    """The analysed tickets among `positions` (in `ids`), with their lemmas (the redacted
    text where they have none) and noun phrases (`word_phrases` of the redacted text where the
    blank pipeline, without a parser, analysed it); tickets without an analysis are left out,
    so that nothing unredacted reaches a keyword or a label."""
    con.register("__ids", pa.table({"ticket_id": [ids[i] for i in positions]}))
    try:
        found = {
            row[0]: row[1:]
            for row in con.execute(
                """SELECT a.ticket_id, CASE WHEN trim(a.lemmas) <> '' THEN a.lemmas ELSE a.text END,
                    a.noun_phrases, a.text, a.spacy_model
                FROM __ids i JOIN v_analysed_tickets a USING (ticket_id)"""
            ).fetchall()
        }
    finally:
        con.unregister("__ids")
    kept = np.array([i for i in positions if ids[i] in found], dtype=np.int64)
    rows = [found[ids[i]] for i in kept]
    phrases = [label_phrases(nouns, text, model) for _, nouns, text, model in rows]
    return kept, [row[0] for row in rows], phrases


def _store_assignments(
    con: duckdb.DuckDBPyConnection,
    model_id: str,
    ids: Sequence[str],
    assigned: np.ndarray,
    similarity: np.ndarray,
    *,
    fitted: bool,
) -> None:
    """Each ticket's topic under `model_id`, replacing what the model had for it. `fitted`:
    assigned by the model's fit, not later to a new or changed ticket (`previous_topics`)."""
    table = pa.table(
        {
            "ticket_id": list(ids),
            "topic_id": pa.array(assigned.astype(np.int32)),
            "probability": pa.array(np.clip(similarity, 0.0, 1.0).astype(np.float64)),
        }
    )
    con.register("__assignments", table)
    con.execute(
        "DELETE FROM ticket_topics WHERE model_id = ? AND ticket_id IN (SELECT ticket_id FROM __assignments)",
        [model_id],
    )
    con.execute(
        """INSERT INTO ticket_topics
            (ticket_id, model_id, topic_id, probability, text_hash, base_topic_id, fitted)
        SELECT a.ticket_id, ?, a.topic_id, a.probability, p.text_hash, a.topic_id, ?
        FROM __assignments a JOIN prepared_tickets p USING (ticket_id)""",
        [model_id, fitted],
    )
    con.unregister("__assignments")


def _save(model, manifest: dict[str, object], path: Path) -> Path:
    """Write the model folder atomically: a crash leaves no half-written model."""
    staging = path.with_name(f".{path.name}.partial")
    # Only one process writes to the warehouse (DuckDB's lock), so any other staging
    # folder is the remains of a run that was killed mid-save.
    for stale in path.parent.glob(".*.partial") if path.parent.exists() else []:
        shutil.rmtree(stale, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save(
        str(staging / "bertopic"),
        serialization="safetensors",
        save_ctfidf=True,
        save_embedding_model=str(manifest["embedding_model"]),
    )
    (staging / "manifest.json").write_text(
        json.dumps(manifest, indent=2, default=str), encoding="utf-8"
    )
    staging.rename(path)
    return path.resolve()


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions
