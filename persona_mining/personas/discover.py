"""Discovered segments: customers clustered on who they are, tested on what they ask.

A discovered segment is tested by the link stage against the customers' issues, so it must not be
built from them: clustering on the issue mix and then testing the clusters against the same
issues finds "links" in any data (on a help desk where nothing is linked, segments built on the
issue mix over-index on their own issue with q-values near 0). Two designs keep the test honest:
fit on one part of each customer's history and test on the other, or cluster on something the
tickets are not. The first halves the evidence of both steps and needs customers with several
tickets; the second costs nothing and makes a discovered segment mean exactly what a rule persona
means (a set of customers defined without looking at their tickets). So customers are clustered
on their attributes only, and `[discover] issue_weight` is accepted but has no effect.

Features, one row per customer of `customers`: every attribute column (not the id or ingest
bookkeeping) that describes the customer rather than a ticket. Numbers and dates are
standardized (missing: the mean); text and booleans are one-hot encoded over their
`max_categories` most common values (rarer ones pooled as "(other)", missing as "(missing)"),
centred and scaled so that each attribute's dummies have total variance 1: every attribute
weighs the same, whatever its number of values. Text columns that are mostly unique (ids,
names, emails) are left out.

Ticket fields are left out too. Customers loaded from the ticket file itself (the README's
"customers from the same file" recipe) carry the columns of one of their tickets: its status,
resolution, type, subject... Those describe a ticket, and some are the very text the topics
come from. They are found from the data, not from a list of names: a customer column is a
ticket field when `tickets` has a column of the same name, or when, for the customers with
exactly one ticket, it equals one of the ticket's columns (at least `SAME_AS_TICKET` of at least
`MIN_SINGLE_TICKET_CUSTOMERS` customers; this catches mapped columns such as `ticket_subject`,
which the tickets hold as `subject`).

k-means (scikit-learn, `n_init=10`, seeded) clusters the rows. Unless `k` is forced, every k
in `min_k`..`max_k` is fitted and the one with the highest silhouette (Euclidean, on a seeded
sample of `sample_size` customers) whose every segment has at least `min_segment_customers`
customers is kept. Each segment is named by what sets it apart, its attributes only: up to two
attribute values over-represented in it (standardized difference >= 0.5 and, for a category,
held by at least half of its customers), e.g. "occupation=student, plan=free"; never by an
issue, which is what the link stage has to find.

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
from persona_mining.personas.attributes import AttributeColumn, attribute_columns
from persona_mining.personas.segments import DISCOVERED_PREFIX
from persona_mining.stats import choose_k_by_silhouette, silhouette
from persona_mining.topics.model import current_model
from persona_mining.warehouse import quote_identifier, table_columns, transaction

OTHER, MISSING = "(other)", "(missing)"
NAME_ATTRIBUTES = 2
MIN_DIFFERENCE = 0.5
#: Share of single-ticket customers whose value equals a ticket column's that makes a ticket field.
SAME_AS_TICKET = 0.95
#: Single-ticket customers needed before a column is judged by its values (fewer prove nothing).
MIN_SINGLE_TICKET_CUSTOMERS = 20
#: Columns of `tickets` a customer column is never compared with (ids and ingest bookkeeping).
_TICKET_BOOKKEEPING = frozenset({"customer_id", "source", "ingested_at", "raw_hash", "row_hash"})
#: Text dates a customer column may hold where the tickets hold the parsed timestamp.
_TEXT_DATE_FORMATS = ("%d-%m-%Y", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d", "%m-%d-%Y")


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
        topics: topics clustered on: always 0, since segments are tested against the topics
            and so are never built from them (kept for callers that show it).
        segments: the segments, largest first.
        seconds: wall time.
        ticket_fields: customer columns left out because they describe a ticket, each with
            the tickets column it matches.
    """

    customers: int
    k: int
    chosen_by: str
    scores: dict[int, float]
    attributes: tuple[str, ...]
    topics: int
    segments: tuple[DiscoveredSegment, ...]
    seconds: float
    ticket_fields: dict[str, str] = field(default_factory=dict)


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
    ticket_fields: dict[str, str]  # column left out -> the tickets column it matches


def discover_segments(con: duckdb.DuckDBPyConnection, *, config: DiscoverConfig) -> DiscoverResult:
    """Cluster the customers and store the clusters as discovered segments.

    Raises:
        StageError: too few customers, nothing to cluster on, or no k gives segments large
            enough (the message says which setting to change).
    """
    started = time.perf_counter()
    current = current_model(con)
    model_id = current[0] if current else None
    features = _features(con, config)
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
        f"Discovered by k-means on {len(features.attributes)} customer attributes "
        f"({', '.join(a.name for a in features.attributes)}), not on tickets; {how}."
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
                        "ticket_fields": features.ticket_fields,
                    }
                ),
                json.dumps(
                    {
                        "k": config.k,
                        "min_k": config.min_k,
                        "max_k": config.max_k,
                        "seed": config.seed,
                        "min_segment_customers": config.min_segment_customers,
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
        topics=0,
        segments=tuple(segments),
        seconds=time.perf_counter() - started,
        ticket_fields=features.ticket_fields,
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


def _features(con: duckdb.DuckDBPyConnection, config: DiscoverConfig) -> _Features:
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
    candidates = attribute_columns(con, max_categories=config.max_categories)
    ticket_fields = _ticket_fields(con, [c.name for c in candidates])
    attributes = _attributes(con, config, [c for c in candidates if c.name not in ticket_fields])
    if not attributes:
        if ticket_fields:
            fix = (
                "; if some of them describe the customer (age, plan...), ingest the tickets "
                'without them (`[ingest] drop_columns = ["COLUMN"]`) into a new warehouse, so '
                "that only the customers table has them"
                if any(c == t for c, t in ticket_fields.items())
                else ""
            )
            raise StageError(
                "discover: nothing to cluster on: the customers have no attribute columns of "
                f"their own; {', '.join(sorted(ticket_fields))} describe tickets (the tickets "
                f"table has them too), so they cannot define who a customer is{fix}"
            )
        raise StageError(
            "discover: nothing to cluster on: the customers have no attribute columns; ingest "
            "customer attributes (plan, age, region...) with "
            "`persona-mining ingest --customers FILE`"
        )
    blocks = [_attribute_block(a) for a in attributes]
    return _Features(customers, np.hstack(blocks), attributes, ticket_fields)


def _ticket_fields(con: duckdb.DuckDBPyConnection, names: list[str]) -> dict[str, str]:
    """The customer columns that describe a ticket, each with the tickets column it matches.

    A column is a ticket field when `tickets` has a column of the same name, or when for the
    customers with exactly one ticket its value equals one of that ticket's columns (compared as
    text, as a timestamp, as a number and as a text date, so that a DATE matches a TIMESTAMP,
    25 matches 25.0 and "21-10-2020" matches the ticket's `created_at` parsed from it).
    """
    types = table_columns(con, "tickets")
    ticket_columns = [c for c in types if c not in _TICKET_BOOKKEEPING]
    formats = ", ".join(f"'{f}'" for f in _TEXT_DATE_FORMATS)
    found = {name: name for name in names if name in ticket_columns}
    rest = [name for name in names if name not in found]
    if not rest or not ticket_columns:
        return found
    pairs = [(x, t) for x in rest for t in ticket_columns]
    aggregates = []
    for i, (x, t) in enumerate(pairs):
        cx = f"CAST(c.{quote_identifier(x)} AS VARCHAR)"
        ct = f"CAST(t.{quote_identifier(t)} AS VARCHAR)"
        same = (
            f"({cx} = {ct} OR try_cast({cx} AS TIMESTAMP) = try_cast({ct} AS TIMESTAMP) "
            f"OR try_cast({cx} AS DOUBLE) = try_cast({ct} AS DOUBLE)"
        )
        if types[t].upper().startswith(("DATE", "TIMESTAMP")):
            # "21-10-2020" in the customer row, the parsed TIMESTAMP in the ticket's created_at.
            same += f" OR try_strptime({cx}, [{formats}])::DATE = try_cast({ct} AS DATE)"
        same += ")"
        aggregates.append(
            f"count(*) FILTER (WHERE {cx} IS NOT NULL AND {ct} IS NOT NULL) AS n{i}, "
            f"count(*) FILTER (WHERE coalesce({same}, false)) AS same{i}"
        )
    row = con.execute(
        f"""WITH single AS (
            SELECT customer_id FROM tickets WHERE customer_id IS NOT NULL
            GROUP BY customer_id HAVING count(*) = 1
        )
        SELECT {", ".join(aggregates)}
        FROM tickets t JOIN single USING (customer_id)
        JOIN customers c ON c.customer_id = t.customer_id"""
    ).fetchone()
    if row is None:
        return found
    for i, (x, t) in enumerate(pairs):
        compared, matching = int(row[2 * i] or 0), int(row[2 * i + 1] or 0)
        enough = compared >= MIN_SINGLE_TICKET_CUSTOMERS
        if x not in found and enough and matching >= SAME_AS_TICKET * compared:
            found[x] = t
    return {name: found[name] for name in names if name in found}


def _attributes(
    con: duckdb.DuckDBPyConnection, config: DiscoverConfig, columns: list[AttributeColumn]
) -> list[_Attribute]:
    attributes = []
    for column in columns:
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
    """What sets the segment apart: its over-represented attribute values (never an issue)."""
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
    return ", ".join(text for _, text in candidates[:NAME_ATTRIBUTES])


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
