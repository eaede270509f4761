"""Discovered segments: customers clustered on who they are and what they contact support about.

Features, one row per customer of `customers`:

- attributes: every attribute column (not the id or ingest bookkeeping). Numbers and dates are
  standardized (missing: the mean); text and booleans are one-hot encoded over their
  `max_categories` most common values (rarer ones pooled as "(other)", missing as
  "(missing)"), centred and scaled so that each attribute's dummies have total variance 1: every
  attribute weighs the same, whatever its number of values. Text columns that are mostly unique
  (ids, names, emails) are left out.
- issue mix: the share of the customer's tickets on each topic of the current model
  (unclustered tickets left out; customers without tickets get everyone's mix, which puts them
  at the centre). The block is centred and scaled so that its total variance is `issue_weight`
  times the attribute block's.

k-means (scikit-learn, `n_init=10`, seeded) clusters the rows. Unless `k` is forced, every k
in `min_k`..`max_k` is fitted and the one with the highest silhouette (Euclidean, on a seeded
sample of `sample_size` customers) whose every segment has at least `min_segment_customers`
customers is kept. Each segment is named by what sets it apart: up to two attribute values over-
represented in it (standardized difference >= 0.5 and, for a category, held by at least half of
its customers) and the topic it raises most over everyone's mix (share >= 1.5x), e.g.
"occupation=student, plan=free · Student discount".

Segments are stored as kind 'discovered' with ids 'discovered-1', 'discovered-2', ... (largest
first). They replace the previous discovered segments and stay until the next discovery; the
segments stage (rules) leaves them alone, and the link, negative and personas stages treat them
like any persona.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

from persona_mining.config import DiscoverConfig
from persona_mining.errors import StageError
from persona_mining.personas.attributes import attribute_columns
from persona_mining.personas.segments import DISCOVERED_PREFIX
from persona_mining.stats import choose_k_by_silhouette, silhouette
from persona_mining.topics.model import UNCLUSTERED, current_model
from persona_mining.warehouse import transaction

OTHER, MISSING = "(other)", "(missing)"
NAME_ATTRIBUTES = 2
MIN_DIFFERENCE = 0.5
MIN_ISSUE_LIFT = 1.5


@dataclass(frozen=True)
class DiscoveredSegment:
    """One discovered segment."""

    segment_id: str
    name: str
    customers: int


@dataclass(frozen=True)
class DiscoverResult:
    """What one discovery did.

    Attributes:
        customers: customers clustered.
        k: segments kept.
        chosen_by: "silhouette" (from the data) or "forced" (`k` set).
        scores: k -> silhouette of each k tried.
        attributes: attribute columns used.
        topics: topics of the issue mix (0 without a topic model or with issue_weight 0).
        segments: the segments, largest first.
        seconds: wall time.
    """

    customers: int
    k: int
    chosen_by: str
    scores: dict[int, float]
    attributes: tuple[str, ...]
    topics: int
    segments: tuple[DiscoveredSegment, ...]
    seconds: float


@dataclass
class _Attribute:
    """One attribute column as features, with what naming a segment needs."""

    name: str
    numeric: bool
    is_date: bool
    raw: np.ndarray  # numbers (NaN missing) or category codes
    categories: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Features:
    customers: list[str]
    matrix: np.ndarray
    attributes: list[_Attribute]
    topic_ids: list[int]
    topic_labels: list[str]
    topic_counts: np.ndarray  # (customers, topics) clustered tickets


def discover_segments(con: duckdb.DuckDBPyConnection, *, config: DiscoverConfig) -> DiscoverResult:
    """Cluster the customers and store the clusters as discovered segments.

    Raises:
        StageError: too few customers, nothing to cluster on, or no k gives segments large
            enough (the message says which setting to change).
    """
    started = time.perf_counter()
    current = current_model(con)
    model_id = current[0] if current else None
    features = _features(con, config, model_id)
    n = len(features.customers)
    labels, k, chosen_by, scores, smallest = _cluster(features.matrix, config)
    order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
    rank = np.empty(k, dtype=int)
    rank[order] = np.arange(k)
    labels = rank[labels]
    segments = []
    used: set[str] = set()
    for index in range(k):
        mask = labels == index
        name = _name(features, mask) or f"Segment {index + 1}"
        if name in used:
            name = f"{name} ({index + 1})"
        used.add(name)
        segments.append(DiscoveredSegment(f"{DISCOVERED_PREFIX}{index + 1}", name, int(mask.sum())))
    how = (
        f"k={k} chosen by silhouette ({scores[k]:.2f})"
        if chosen_by == "silhouette"
        else f"k={k} forced"
    )
    description = (
        f"Discovered by k-means on {len(features.attributes)} customer attributes"
        + (
            f" and the issue mix over {len(features.topic_ids)} topics"
            if features.topic_ids
            else ""
        )
        + f"; {how}."
    )
    members = pa.table(
        {
            "customer_id": features.customers,
            "segment_id": [segments[i].segment_id for i in labels],
        }
    )
    with transaction(con):
        # Everything derived from the previous discovered segments goes with them.
        for table in [*_tables_by_segment(con), "segments"]:
            con.execute(
                f"DELETE FROM {table} WHERE starts_with(segment_id, ?)", [DISCOVERED_PREFIX]
            )
        con.executemany(
            "INSERT INTO segments (segment_id, name, kind, description, rule) VALUES (?, ?, 'discovered', ?, NULL)",
            [[s.segment_id, s.name, description] for s in segments],
        )
        con.register("__members", members)
        con.execute(
            "INSERT INTO customer_segments (customer_id, segment_id) SELECT customer_id, segment_id FROM __members"
        )
        con.unregister("__members")
        con.execute(
            """INSERT INTO segment_discoveries (discovered_at, model_id, customers, k, chosen_by, scores,
                features, params)
            VALUES (now(), ?, ?, ?, ?, ?, ?, ?)""",
            [
                model_id,
                n,
                k,
                chosen_by,
                json.dumps(
                    {
                        str(key): {
                            "silhouette": None if np.isnan(value) else value,
                            "smallest": smallest.get(key),
                        }
                        for key, value in scores.items()
                    }
                ),
                json.dumps(
                    {
                        "attributes": [a.name for a in features.attributes],
                        "topics": features.topic_ids,
                    }
                ),
                json.dumps(
                    {
                        "k": config.k,
                        "min_k": config.min_k,
                        "max_k": config.max_k,
                        "seed": config.seed,
                        "min_segment_customers": config.min_segment_customers,
                        "issue_weight": config.issue_weight,
                        "max_categories": config.max_categories,
                        "sample_size": config.sample_size,
                    }
                ),
            ],
        )
    return DiscoverResult(
        customers=n,
        k=k,
        chosen_by=chosen_by,
        scores=scores,
        attributes=tuple(a.name for a in features.attributes),
        topics=len(features.topic_ids),
        segments=tuple(segments),
        seconds=time.perf_counter() - started,
    )


def _tables_by_segment(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Base tables other than `segments` that hold rows per segment."""
    return [
        row[0]
        for row in con.execute(
            """SELECT c.table_name FROM information_schema.columns c
            JOIN information_schema.tables t USING (table_schema, table_name)
            WHERE c.column_name = 'segment_id' AND t.table_type = 'BASE TABLE'
                AND c.table_schema = current_schema() AND c.table_name <> 'segments'
            ORDER BY 1"""
        ).fetchall()
    ]


def _features(
    con: duckdb.DuckDBPyConnection, config: DiscoverConfig, model_id: str | None
) -> _Features:
    customers = [
        r[0]
        for r in con.execute("SELECT customer_id FROM customers ORDER BY customer_id").fetchall()
    ]
    n = len(customers)
    smallest = max(config.k, config.min_k) + 1
    if n < smallest:
        raise StageError(
            f"discover: {n} customers, too few to cluster into segments; ingest customers "
            "first (`persona-mining ingest --customers FILE`)"
        )
    attributes = _attributes(con, config)
    blocks = [_attribute_block(a) for a in attributes]
    topic_ids: list[int] = []
    labels: list[str] = []
    counts = np.zeros((n, 0))
    if model_id is not None and config.issue_weight > 0:
        topic_ids, labels, counts = _topic_counts(con, model_id, customers)
        if topic_ids:
            blocks.append(_issue_block(counts, config.issue_weight * max(1, len(attributes))))
    if not blocks:
        raise StageError(
            "discover: nothing to cluster on: the customers have no attribute columns and there "
            "is no topic model; ingest customer attributes or run the pipeline first"
        )
    return _Features(customers, np.hstack(blocks), attributes, topic_ids, labels, counts)


def _attributes(con: duckdb.DuckDBPyConnection, config: DiscoverConfig) -> list[_Attribute]:
    attributes = []
    for column in attribute_columns(con, max_categories=config.max_categories):
        if column.kind != "categorical":
            raw = _column(con, column.value_sql, np.float64)
            if np.isfinite(raw).sum() >= 2 and np.nanstd(raw) > 0:
                attributes.append(_Attribute(column.name, True, column.kind == "date", raw))
            continue
        value = column.value_sql
        top = [
            r[0]
            for r in con.execute(
                f"""SELECT {value} AS v FROM customers WHERE v IS NOT NULL
                GROUP BY v ORDER BY count(*) DESC, v LIMIT ?""",
                [config.max_categories - 1],
            ).fetchall()
        ]
        codes = _column(
            con,
            f"""CASE WHEN {value} IS NULL THEN {len(top) + 1}
                WHEN list_contains($top, {value}) THEN list_position($top, {value}) - 1
                ELSE {len(top)} END""",
            np.int64,
            {"top": top},
        )
        attributes.append(_Attribute(column.name, False, False, codes, [*top, OTHER, MISSING]))
    return attributes


def _column(
    con: duckdb.DuckDBPyConnection,
    expression: str,
    dtype: type[np.generic],
    params: dict[str, object] | None = None,
) -> np.ndarray:
    """One value per customer (in customer id order) as a numpy array; NULL becomes NaN."""
    values = con.execute(
        f"SELECT {expression} AS x FROM customers ORDER BY customer_id", params or {}
    ).fetchnumpy()["x"]
    if dtype is np.float64:
        return np.ma.filled(np.ma.asarray(values, dtype=np.float64), np.nan)
    return np.asarray(values, dtype=dtype)


def _attribute_block(attribute: _Attribute) -> np.ndarray:
    """The attribute's features, with total variance 1."""
    if attribute.numeric:
        x = attribute.raw
        z = (x - np.nanmean(x)) / np.nanstd(x)
        return np.nan_to_num(z, nan=0.0).reshape(-1, 1)
    dummies = np.eye(len(attribute.categories))[attribute.raw]
    share = dummies.mean(axis=0)
    present = share > 0
    centred = dummies[:, present] - share[present]
    return centred / np.sqrt((share[present] * (1 - share[present])).sum())


def _topic_counts(
    con: duckdb.DuckDBPyConnection, model_id: str, customers: list[str]
) -> tuple[list[int], list[str], np.ndarray]:
    """Clustered tickets per customer and topic of the model (customers in id order)."""
    topics = con.execute(
        "SELECT topic_id, label FROM topics WHERE model_id = ? AND topic_id <> ? ORDER BY topic_id",
        [model_id, UNCLUSTERED],
    ).fetchall()
    counts = np.zeros((len(customers), len(topics)))
    if not topics:
        return [], [], counts
    cells = con.execute(
        """WITH idx AS (
            SELECT customer_id, row_number() OVER (ORDER BY customer_id) - 1 AS i FROM customers
        ), tp AS (
            SELECT topic_id, row_number() OVER (ORDER BY topic_id) - 1 AS j
            FROM topics WHERE model_id = $model AND topic_id <> $unclustered
        )
        SELECT idx.i, tp.j, count(*) AS n
        FROM tickets t
        JOIN idx ON idx.customer_id = t.customer_id
        JOIN ticket_topics tt ON tt.ticket_id = t.ticket_id AND tt.model_id = $model
        JOIN tp ON tp.topic_id = tt.topic_id
        GROUP BY ALL""",
        {"model": model_id, "unclustered": UNCLUSTERED},
    ).fetchnumpy()
    np.add.at(counts, (cells["i"].astype(int), cells["j"].astype(int)), cells["n"])
    return [t for t, _ in topics], [label for _, label in topics], counts


def _issue_block(counts: np.ndarray, total_variance: float) -> np.ndarray:
    """Issue-mix features with the given total variance (empty when nobody has a topic)."""
    everyone = counts.sum(axis=0)
    if everyone.sum() == 0:
        return np.zeros((len(counts), 0))
    totals = counts.sum(axis=1, keepdims=True)
    mix = np.where(totals > 0, counts / np.maximum(totals, 1), everyone / everyone.sum())
    centred = mix - mix.mean(axis=0)
    variance = float(centred.var(axis=0).sum())
    if variance == 0:
        return np.zeros((len(counts), 0))
    return centred * np.sqrt(total_variance / variance)


def _cluster(
    matrix: np.ndarray, config: DiscoverConfig
) -> tuple[np.ndarray, int, str, dict[int, float], dict[int, int]]:
    """Labels, k, how k was chosen, and the silhouette and smallest segment of each k tried."""
    import warnings

    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    n = len(matrix)

    def fit(k: int) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels: np.ndarray = KMeans(
                n_clusters=k, n_init=10, random_state=config.seed
            ).fit_predict(matrix)
        return labels

    if config.k:
        if config.k >= n:
            raise StageError(
                f"discover: k={config.k} segments for {n} customers; ask for fewer (--k)"
            )
        labels = fit(config.k)
        score = silhouette(matrix, labels, seed=config.seed, sample_size=config.sample_size)
        smallest_forced = int(np.bincount(labels, minlength=config.k).min())
        return (
            labels,
            config.k,
            "forced",
            {config.k: score if score is not None else float("nan")},
            {config.k: smallest_forced},
        )
    choice = choose_k_by_silhouette(
        matrix,
        range(config.min_k, min(config.max_k, n - 1) + 1),
        fit,
        seed=config.seed,
        sample_size=config.sample_size,
        min_cluster_size=config.min_segment_customers,
    )
    if choice.k is None or choice.labels is None:
        raise StageError(
            f"discover: no k in {config.min_k}..{config.max_k} splits the {n} customers into "
            f"segments of at least {config.min_segment_customers}; lower [discover] "
            "min_segment_customers or force the number with --k"
        )
    return choice.labels, choice.k, "silhouette", choice.scores, choice.smallest


def _name(features: _Features, mask: np.ndarray) -> str:
    """What sets the segment apart: its over-represented attribute values and top issue."""
    candidates: list[tuple[float, str]] = []
    for attribute in features.attributes:
        found = (
            _numeric_difference(attribute, mask)
            if attribute.numeric
            else _category_difference(attribute, mask)
        )
        if found is not None:
            candidates.append(found)
    candidates.sort(key=lambda c: -c[0])
    parts = [text for _, text in candidates[:NAME_ATTRIBUTES]]
    issue = _top_issue(features, mask)
    name = ", ".join(parts)
    if issue:
        name = f"{name} · {issue}" if name else issue
    return name


def _numeric_difference(attribute: _Attribute, mask: np.ndarray) -> tuple[float, str] | None:
    inside = attribute.raw[mask]
    if np.isfinite(inside).sum() < 2:
        return None
    pooled = np.sqrt((np.nanvar(inside) + np.nanvar(attribute.raw)) / 2)
    if pooled == 0:
        return None
    difference = abs(np.nanmean(inside) - np.nanmean(attribute.raw)) / pooled
    if difference < MIN_DIFFERENCE:
        return None
    low, high = np.nanpercentile(inside, [25, 75], method="nearest")
    shown = [_show(attribute, low), _show(attribute, high)]
    span = shown[0] if shown[0] == shown[1] else f"{shown[0]}-{shown[1]}"
    return float(difference), f"{attribute.name}={span}"


def _show(attribute: _Attribute, value: float) -> str:
    if attribute.is_date:
        return str(np.datetime64(round(float(value)), "D").astype(object).year)
    whole = round(float(value))
    return str(whole) if abs(value - whole) < 1e-9 else f"{value:.3g}"


def _category_difference(attribute: _Attribute, mask: np.ndarray) -> tuple[float, str] | None:
    best: tuple[float, str] | None = None
    for code, category in enumerate(attribute.categories):
        if category in (OTHER, MISSING):
            continue
        inside = float(np.mean(attribute.raw[mask] == code))
        everyone = float(np.mean(attribute.raw == code))
        spread = np.sqrt((inside * (1 - inside) + everyone * (1 - everyone)) / 2)
        if inside < 0.5 or spread == 0:
            continue
        difference = (inside - everyone) / spread
        if difference >= MIN_DIFFERENCE and (best is None or difference > best[0]):
            best = (float(difference), f"{attribute.name}={category}")
    return best


def _top_issue(features: _Features, mask: np.ndarray) -> str | None:
    if not features.topic_ids:
        return None
    inside = features.topic_counts[mask].sum(axis=0)
    everyone = features.topic_counts.sum(axis=0)
    if inside.sum() == 0 or everyone.sum() == 0:
        return None
    share = inside / inside.sum()
    lift = np.divide(share, everyone / everyone.sum(), out=np.zeros_like(share), where=everyone > 0)
    lift[share < 0.05] = 0
    best = int(np.argmax(lift))
    return features.topic_labels[best] if lift[best] >= MIN_ISSUE_LIFT else None
