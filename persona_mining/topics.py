"""Stage 4, topics: the recurring issues, found by BERTopic on the cached embeddings.

`fit_topics` fits a new model on every prepared ticket (a refit) and saves it under
`models/<model_id>/` (BERTopic's safetensors format plus a `manifest.json`);
`assign_topics` assigns tickets that are new or changed since with the saved model, the
way BERTopic's safetensors models transform: cosine similarity to the topic centroids.

Outlier policy: a ticket HDBSCAN leaves unclustered joins its most similar topic when the
cosine similarity to that topic's centroid is at least `outlier_threshold`; the others
stay in topic -1, labelled "Unclustered", visible with their count.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import platform
import re
import shutil
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from persona_mining.config import TopicsConfig
from persona_mining.db import transaction
from persona_mining.embed import load_vectors
from persona_mining.errors import ModelError, StageError

UNCLUSTERED = -1
UNCLUSTERED_LABEL = "Unclustered"
MIN_TICKETS_TO_FIT = 30
_PLACEHOLDER = re.compile(r"\[[A-Z]+\]")
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


def fit_topics(
    con: duckdb.DuckDBPyConnection,
    *,
    config: TopicsConfig,
    embedding_model: str,
    models_dir: Path,
) -> TopicsResult:
    """Fit a new topic model on all prepared tickets, save it, and store its assignments."""
    started = time.perf_counter()
    ids, vectors = load_vectors(con, model=embedding_model)
    if len(ids) < MIN_TICKETS_TO_FIT:
        raise StageError(
            f"topics: {len(ids)} prepared and embedded tickets, at least {MIN_TICKETS_TO_FIT} are "
            "needed to fit a topic model; ingest more tickets, then run again"
        )
    texts, phrases = _texts_and_phrases(con, ids)
    docs = [_PLACEHOLDER.sub(" ", t) for t in texts]
    min_topic_size = config.min_topic_size or max(10, round(0.01 * len(ids)))
    model, assigned = _fit_bertopic(docs, vectors, config, min_topic_size)
    assigned, similarity, centroids = _apply_outlier_policy(
        assigned, vectors, config.outlier_threshold
    )
    with _quiet_bertopic():
        # BERTopic warns that custom assignments are final: they are, and the centroids are ours.
        model.update_topics(
            docs,
            topics=assigned.tolist(),
            top_n_words=config.top_n_words,
            vectorizer_model=_vectorizer(len(docs)),
            ctfidf_model=_ctfidf(),
        )
    topic_ids = sorted(centroids)
    model.topic_embeddings_ = np.vstack([centroids[t] for t in topic_ids])
    labels = _labels(model, assigned, phrases, topic_ids)
    model.set_topic_labels({t: labels[t] for t in topic_ids})

    params = {**asdict(config), "min_topic_size_used": min_topic_size}
    digest = hashlib.sha256(json.dumps([ids, params, embedding_model]).encode()).hexdigest()[:8]
    created = datetime.now(UTC).replace(tzinfo=None)
    model_id = f"topics-{created:%Y%m%dT%H%M%S}-{digest}"
    window = con.execute(
        "SELECT min(created_at), max(created_at) FROM tickets WHERE ticket_id IN (SELECT ticket_id FROM prepared_tickets)"
    ).fetchone()
    sizes = Counter(assigned.tolist())
    manifest = {
        "model_id": model_id,
        "created_at": created.isoformat(),
        "embedding_model": embedding_model,
        "n_tickets": len(ids),
        "n_topics": len([t for t in topic_ids if t != UNCLUSTERED]),
        "unclustered": sizes.get(UNCLUSTERED, 0),
        "data_window": [str(window[0]) if window else None, str(window[1]) if window else None],
        "params": params,
        "topics": [{"topic_id": t, "label": labels[t], "size": sizes[t]} for t in topic_ids],
        "versions": _versions(),
    }
    path = _save(model, manifest, models_dir / model_id)
    keywords = {
        t: [w for w, _ in (model.get_topic(t) or [])][: config.top_n_words] for t in topic_ids
    }
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
            "INSERT INTO topics (model_id, topic_id, label, keywords, size) VALUES (?, ?, ?, ?, ?)",
            [[model_id, t, labels[t], keywords[t], sizes[t]] for t in topic_ids],
        )
        _store_assignments(con, model_id, ids, assigned, similarity)
    return TopicsResult(
        model_id=model_id,
        refit=True,
        tickets=len(ids),
        topics=len(topic_ids) - (UNCLUSTERED in topic_ids),
        unclustered=sizes.get(UNCLUSTERED, 0),
        seconds=time.perf_counter() - started,
    )


def assign_topics(
    con: duckdb.DuckDBPyConnection,
    *,
    config: TopicsConfig,
    embedding_model: str,
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
            _store_assignments(con, model_id, ids, assigned, best_similarity)
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


def current_model(con: duckdb.DuckDBPyConnection) -> tuple[str, str, str] | None:
    """(model_id, path, embedding model) of the current topic model, or None."""
    row = con.execute("SELECT model_id, path, embedding_model FROM v_current_model").fetchone()
    return (row[0], row[1], row[2]) if row else None


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
    topic_ids = [t["topic_id"] for t in manifest["topics"]]
    return topic_ids, tensors["topic_embeddings"].astype(np.float32)


def _texts_and_phrases(
    con: duckdb.DuckDBPyConnection, ids: Sequence[str]
) -> tuple[list[str], list[list[str]]]:
    con.register("__ids", pa.table({"ticket_id": list(ids)}))
    rows = con.execute(
        """SELECT p.text, p.noun_phrases FROM __ids i JOIN prepared_tickets p USING (ticket_id)
        ORDER BY p.ticket_id"""
    ).fetchall()
    con.unregister("__ids")
    return [r[0] for r in rows], [list(r[1]) for r in rows]


def _vectorizer(n_docs: int):
    from sklearn.feature_extraction.text import CountVectorizer

    return CountVectorizer(
        ngram_range=(1, 2),
        stop_words="english",
        min_df=2 if n_docs >= 100 else 1,
        token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z]+\b",
    )


def _ctfidf():
    from bertopic.vectorizers import ClassTfidfTransformer

    return ClassTfidfTransformer(reduce_frequent_words=True)


def _fit_bertopic(docs: list[str], vectors: np.ndarray, config: TopicsConfig, min_topic_size: int):
    from bertopic import BERTopic
    from hdbscan import HDBSCAN
    from umap import UMAP

    umap_model = UMAP(
        n_neighbors=min(config.n_neighbors, len(docs) - 1),
        n_components=config.n_components,
        min_dist=0.0,
        metric="cosine",
        random_state=config.seed,
    )
    hdbscan_model = HDBSCAN(
        min_cluster_size=min_topic_size,
        metric="euclidean",
        cluster_selection_method="eom",
        prediction_data=False,
    )
    model = BERTopic(
        embedding_model=None,
        umap_model=umap_model,
        hdbscan_model=hdbscan_model,
        vectorizer_model=_vectorizer(len(docs)),
        ctfidf_model=_ctfidf(),
        top_n_words=config.top_n_words,
        calculate_probabilities=False,
        verbose=False,
    )
    with warnings.catch_warnings():
        # UMAP says that a seed makes it single-threaded: that is the price of reproducibility.
        warnings.filterwarnings("ignore", message=".*n_jobs value 1 overridden.*")
        assigned, _ = model.fit_transform(docs, embeddings=vectors)
    return model, np.asarray(assigned, dtype=np.int64)


def _apply_outlier_policy(
    assigned: np.ndarray, vectors: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
    """Reassign close outliers; return topics, similarity to own centroid, centroids."""
    real = sorted(int(t) for t in set(assigned.tolist()) if t != UNCLUSTERED)
    if not real:
        raise StageError(
            "topics: the clustering found no recurring issue (every ticket is an outlier); "
            "lower [topics] min_topic_size or ingest more tickets"
        )
    centroids = {t: _unit(vectors[assigned == t].mean(axis=0)) for t in real}
    matrix = np.vstack([centroids[t] for t in real])
    similarity = vectors @ matrix.T
    best = similarity.argmax(axis=1)
    best_similarity = similarity[np.arange(len(assigned)), best]
    outliers = assigned == UNCLUSTERED
    join = outliers & (best_similarity >= threshold)
    result = assigned.copy()
    result[join] = np.array(real)[best[join]]
    own = np.array([real.index(t) if t != UNCLUSTERED else -1 for t in result.tolist()])
    own_similarity = np.where(
        own >= 0, similarity[np.arange(len(result)), np.maximum(own, 0)], best_similarity
    )
    remaining = result == UNCLUSTERED
    if remaining.any():
        centroids[UNCLUSTERED] = _unit(vectors[remaining].mean(axis=0))
    return result, own_similarity.astype(np.float64), centroids


@contextmanager
def _quiet_bertopic() -> Iterator[None]:
    logger = logging.getLogger("BERTopic")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float32)


def _labels(
    model, assigned: np.ndarray, phrases: list[list[str]], topic_ids: list[int]
) -> dict[int, str]:
    """A short readable label per topic: its most distinctive noun phrase, else its top keywords."""
    overall: Counter[str] = Counter()
    per_topic: dict[int, Counter[str]] = {t: Counter() for t in topic_ids}
    for topic, doc_phrases in zip(assigned.tolist(), phrases, strict=True):
        unique = {p for p in doc_phrases if p and not _PLACEHOLDER.search(p) and len(p) <= 40}
        overall.update(unique)
        per_topic[topic].update(unique)
    labels: dict[int, str] = {}
    used: set[str] = set()
    for topic in topic_ids:
        if topic == UNCLUSTERED:
            labels[topic] = UNCLUSTERED_LABEL
            continue
        keywords = [w for w, _ in (model.get_topic(topic) or [])]
        size = max(1, int((assigned == topic).sum()))
        top_words = set(" ".join(keywords[:5]).split())
        candidates = [
            (count / overall[p] * math.log1p(count), p)
            for p, count in per_topic[topic].items()
            if count >= max(3, 0.03 * size) and top_words & set(p.split())
        ]
        label = ""
        for _, phrase in sorted(candidates, reverse=True):
            if phrase not in used:
                label = phrase
                break
        if not label:
            bigrams = [k for k in keywords[:5] if " " in k]
            label = bigrams[0] if bigrams else " / ".join(keywords[:2]) or f"topic {topic}"
        if label in used:
            extra = next((k for k in keywords if k not in label), str(topic))
            label = f"{label} / {extra}"
        used.add(label)
        labels[topic] = label[:1].upper() + label[1:]
    return labels


def _store_assignments(
    con: duckdb.DuckDBPyConnection,
    model_id: str,
    ids: Sequence[str],
    assigned: np.ndarray,
    similarity: np.ndarray,
) -> None:
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
        """INSERT INTO ticket_topics (ticket_id, model_id, topic_id, probability, text_hash)
        SELECT a.ticket_id, ?, a.topic_id, a.probability, p.text_hash
        FROM __assignments a JOIN prepared_tickets p USING (ticket_id)""",
        [model_id],
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
