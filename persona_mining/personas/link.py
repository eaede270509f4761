"""Stage 6, link: which issues each persona raises more (or less) than everyone else.

For every segment x topic of the current model:

- `share` is the segment's tickets on the topic over all its tickets; `baseline_share` the
  same among customers outside the segment; `lift` their ratio. Where nobody outside the
  segment has a ticket on the topic (`baseline_share` 0), the ratio is infinite: `lift` is then
  the ratio with 0.5 added to each ticket count and 1 to each total (Haldane-Anscombe), finite
  and consistent with its interval, so that every cell has a lift.
- The interval of the lift is customer-clustered: the delta method on the log of two ratio
  estimators whose variance is computed over customers, not tickets, because one customer's
  tickets are not independent (a chronic complainer with twenty tickets is one voice). Where
  that variance cannot be estimated (a side with fewer than two customers or no ticket on the
  topic) or comes out 0 (every customer alike, which proves no certainty), it is the Katz log
  interval with the same 0.5 correction.
- The p-value is the exact conditional test of the segment's tickets on the topic (binomial,
  given the topic's tickets and the segment's share of all tickets), with both counts divided
  by the design effect where customers repeat the topic more than chance
  (`stats.clustered_count_test`, here from its sums over customers,
  `stats.clustered_count_p_value`): every ticket counts, a chronic complainer as one voice.
  It is floored at the smallest positive double so that no q-value reads 0. With `findings = "over"` (the default) only over-indexing is a finding (a
  challenge) and the test is one-sided, for a segment raising the topic more; an under-indexed
  cell keeps its lift and interval as description, with a p-value near 1 and never
  significant; cells whose one-sided p-value is above 1/2 leave the family (q-value 1) and the
  others are tested with twice their p-value (conditional p-values), so under-indexing does
  not dilute the challenges. With `findings = "both"` the test is two-sided and either direction can be a
  finding.
- Q-values are controlled across the two levels at once: one Benjamini-Hochberg runs over
  every segment's issue and theme cells together, so one false discovery rate covers every
  claim at either level. A theme can be claimed for one strong issue or for several weak ones
  that are each too small. Selecting themes first (Benjamini-Bogomolov,
  `stats.hierarchical_discoveries`) or gating issues on their theme found fewer planted links
  at the same error on null data (bench/power.py).
- A cell exists only where there is a comparison: a segment none of whose customers has a
  ticket, or one that holds every customer with a ticket (nobody outside to compare with), gets
  no cells, and neither does a topic that no known customer raised. So no cell has an undefined
  lift or a q-value that tested nothing.
- `significant` needs q < alpha, an interval that excludes 1 (above 1 with
  `findings = "over"`), and enough evidence: at least `min_customers` distinct customers and
  `min_tickets` tickets in an over-indexed cell (for an under-indexed cell, that many customers
  would have been expected at the baseline rate).

The population is every ticket with a known customer (anonymous tickets and tickets of
customers missing from `customers` count in topics and trends, not here) under the
current topic model. Topic -1 (unclustered) is in the denominators but not tested.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from persona_mining.config import LinkConfig
from persona_mining.errors import StageError
from persona_mining.personas.segments import segment_masks, sorted_keys, topic_positions
from persona_mining.stats import (
    ClusteredRate,
    clustered_count_p_value,
    conditional_p_values,
    design_effect,
    discoveries,
    z_score,
)
from persona_mining.topics.model import UNCLUSTERED, current_model
from persona_mining.warehouse import transaction

#: The exact p-value underflows to 0 on large, fully separated tables; a q-value of 0
#: would claim certainty, so p-values are floored here (they still sort first).
SMALLEST_P_VALUE = float(np.finfo(np.float64).tiny)

#: One-sided p-values above this (cells that under-index, or barely over-index) leave the
#: family of challenges; the others are tested with p / this (`stats.conditional_p_values`).
UNDER_INDEXED_P = 0.5


@dataclass(frozen=True)
class LinkResult:
    """What one link call did."""

    model_id: str
    cells: int
    significant: int
    over_indexed: int
    seconds: float


@dataclass(frozen=True)
class _Counts:
    """Per-customer ticket counts, one row per customer x topic with a ticket.

    A million tickets make a few hundred thousand such rows; a customers x topics matrix, and
    each temporary of its arithmetic, would hold ten times as many numbers.
    """

    customers: list[str]
    topics: list[int]
    customer: np.ndarray  # (rows,) the row's customer, an index into `customers`
    topic: np.ndarray  # (rows,) the row's topic, an index into `topics`
    tickets: np.ndarray  # (rows,) the customer's tickets on the topic, at least 1
    total: np.ndarray  # (customers,) tickets on any topic, unclustered included

    def dense(self) -> np.ndarray:
        """The counts as a customers x topics matrix."""
        matrix = np.zeros((len(self.customers), len(self.topics)), dtype=np.float64)
        matrix[self.customer, self.topic] = self.tickets
        return matrix

    def _on(self, members: np.ndarray | None) -> np.ndarray | None:
        """Each row's weight: 1 where its customer is a member, else 0 (None: everyone)."""
        return None if members is None else members[self.customer].astype(np.float64)

    def per_topic(self, members: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per topic, the tickets of the customers (the members only, a mask over customers,
        if given) and how many of them have one."""
        on = self._on(members)
        tickets = self.tickets if on is None else self.tickets * on
        n = len(self.topics)
        return (
            np.bincount(self.topic, weights=tickets, minlength=n),
            np.bincount(self.topic, weights=on, minlength=n),
        )

    def residual_squares(self, rate: np.ndarray, members: np.ndarray | None = None) -> np.ndarray:
        """Per topic j, the sum over the customers (the members only, if given) of
        (y - rate[j] * n)^2, y the customer's tickets on j and n all their tickets.

        A customer with no ticket on j adds (rate[j] * n)^2. Their n^2 add up to the sum over
        every customer less the sum over those with a ticket on j, both exact (integers), so
        no rounded term is taken from another.
        """
        n = len(self.topics)
        on = self._on(members)
        totals = self.total[self.customer]
        residual = (self.tickets - rate[self.topic] * totals) ** 2
        squares = totals**2
        if on is not None:
            residual, squares = residual * on, squares * on
        everyone = self.total if members is None else self.total[members]
        without = float((everyone**2).sum()) - np.bincount(self.topic, weights=squares, minlength=n)
        return np.bincount(self.topic, weights=residual, minlength=n) + rate**2 * without


def link_issues(con: duckdb.DuckDBPyConnection, *, config: LinkConfig) -> LinkResult:
    """Rebuild `issue_by_persona` for the current topic model and every segment."""
    started = time.perf_counter()
    current = current_model(con)
    if current is None:
        raise StageError(
            "link: no topic model yet; run the topics stage first (`persona-mining run`)"
        )
    model_id = current[0]
    counts = _customer_topic_counts(con, model_id)
    masks = segment_masks(con, counts.customers)
    grouped = _group_counts(counts, _group_of(con, model_id))
    rows: list[dict[str, object]] = []
    group_rows: list[dict[str, object]] = []
    for level, out in ((counts, rows), (grouped, group_rows)):
        everyone = _Everyone.of(level)
        for sid, mask in masks.items():
            out += _segment_cells(sid, mask, level, everyone, config)
    for row in group_rows:
        row["group_id"] = row.pop("topic_id")
    _add_q_values(rows, group_rows, config)
    with transaction(con):
        _replace(con, "issue_by_persona", "topic_id", model_id, rows)
        _replace(con, "issue_group_by_persona", "group_id", model_id, group_rows)
    significant = [r for r in rows if r["significant"]]
    return LinkResult(
        model_id=model_id,
        cells=len(rows),
        significant=len(significant),
        over_indexed=sum(1 for r in significant if _lift_above_one(r)),
        seconds=time.perf_counter() - started,
    )


def _replace(
    con: duckdb.DuckDBPyConnection,
    table: str,
    key: str,
    model_id: str,
    rows: list[dict[str, object]],
) -> None:
    """Replace one model's cells of a statistics table (the caller holds the transaction)."""
    con.execute(f"DELETE FROM {table} WHERE model_id = ?", [model_id])
    if not rows:
        return
    con.register("__cells", pa.Table.from_pylist([{**r, "model_id": model_id} for r in rows]))
    columns = (
        f"segment_id, model_id, {key}, tickets, customers, segment_tickets, segment_customers, "
        "share, baseline_share, lift, ci_low, ci_high, p_value, q_value, significant"
    )
    con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM __cells")
    con.unregister("__cells")


def _group_of(con: duckdb.DuckDBPyConnection, model_id: str) -> dict[int, int]:
    """The theme (group) of each topic of the model that has one."""
    return dict(
        con.execute(
            "SELECT topic_id, group_id FROM topics WHERE model_id = ? AND group_id IS NOT NULL "
            "AND group_id >= 0",
            [model_id],
        ).fetchall()
    )


def _group_counts(counts: _Counts, group_of: dict[int, int]) -> _Counts:
    """The same counts with the topics of each group added up (groups as 'topics')."""
    groups = sorted({group_of[t] for t in counts.topics if t in group_of})
    group = np.array(
        [groups.index(group_of[t]) if t in group_of else -1 for t in counts.topics],
        dtype=np.int64,
    )
    row_group = group[counts.topic]
    grouped = row_group >= 0
    # One row per customer x group: a customer's tickets on the group's topics added up.
    width = max(len(groups), 1)
    keys, row = np.unique(
        counts.customer[grouped] * width + row_group[grouped], return_inverse=True
    )
    return _Counts(
        counts.customers,
        groups,
        keys // width,
        keys % width,
        np.bincount(row, weights=counts.tickets[grouped], minlength=len(keys)),
        counts.total,
    )


def _lift_above_one(row: dict[str, object]) -> bool:
    lift = row["lift"]
    return isinstance(lift, float) and lift > 1


def _customer_topic_counts(con: duckdb.DuckDBPyConnection, model_id: str) -> _Counts:
    rows = con.execute(
        """SELECT t.customer_id, tt.topic_id, count(*) AS tickets
        FROM ticket_topics tt
        JOIN tickets t USING (ticket_id)
        JOIN customers c ON c.customer_id = t.customer_id
        WHERE tt.model_id = ?
        GROUP BY ALL ORDER BY ALL""",
        [model_id],
    ).fetchnumpy()
    topics = [
        r[0]
        for r in con.execute(
            # Merged-away, split and ignored topics are not persona challenges (see taxonomy.py).
            "SELECT topic_id FROM topics WHERE model_id = ? AND topic_id <> ? "
            "AND coalesce(active, true) AND NOT coalesce(ignored, false) ORDER BY topic_id",
            [model_id, UNCLUSTERED],
        ).fetchall()
    ]
    # Vectorised: a Python loop over (customer, topic) rows cost seconds at a million tickets.
    customers, row_customer = sorted_keys(rows["customer_id"])
    counts = np.asarray(rows["tickets"], dtype=np.float64)
    total = np.bincount(row_customer, weights=counts, minlength=len(customers))
    position = topic_positions(topics, rows["topic_id"])
    known = position >= 0
    return _Counts(customers, topics, row_customer[known], position[known], counts[known], total)


@dataclass(frozen=True)
class _Everyone:
    """Per topic, sums over every customer of a `_Counts`: what each segment's cells compare
    with, computed once for all segments."""

    tickets: float  # all tickets
    customers: int
    on_topic: np.ndarray  # (topics,) tickets on each topic
    customers_on: np.ndarray  # (topics,) customers with a ticket on it
    residual_squares: np.ndarray  # (topics,) sum of (y - on_topic / tickets * n)^2

    @classmethod
    def of(cls, counts: _Counts) -> _Everyone:
        tickets = float(counts.total.sum())
        on_topic, customers_on = counts.per_topic()
        rate = on_topic / tickets if tickets else np.zeros_like(on_topic)
        return cls(
            tickets=tickets,
            customers=len(counts.customers),
            on_topic=on_topic,
            customers_on=customers_on,
            residual_squares=counts.residual_squares(rate),
        )


def _segment_cells(
    sid: str, mask: np.ndarray, counts: _Counts, everyone: _Everyone, config: LinkConfig
) -> list[dict[str, object]]:
    """The segment's cell on every topic; the sums over its customers and over everyone
    outside it are taken for all topics at once (ticket counts are integers, so the outside's
    sums are everyone's minus the segment's, exactly)."""
    seg_tickets = float(counts.total[mask].sum())
    out_tickets = everyone.tickets - seg_tickets
    seg_customers = int(mask.sum())
    out_customers = everyone.customers - seg_customers
    if not seg_tickets or not out_tickets:
        # No tickets inside, or nobody outside: nothing to compare, so no statistic to show.
        return []
    tickets_in, customers_in = counts.per_topic(mask)
    tickets_out = everyone.on_topic - tickets_in
    customers_out = everyone.customers_on - customers_in
    # Each side's ratio estimator of the topic's share, and its residuals over customers.
    rate_in, rate_out = tickets_in / seg_tickets, tickets_out / out_tickets
    residual_in = counts.residual_squares(rate_in, mask)
    residual_out = counts.residual_squares(rate_out, ~mask)
    alternative = "greater" if config.findings == "over" else "two-sided"
    cells = []
    for j, topic in enumerate(counts.topics):
        tickets, tickets_out_j = float(tickets_in[j]), float(tickets_out[j])
        if not tickets and not tickets_out_j:
            continue  # a topic no known customer raised says nothing about anyone
        customers = int(customers_in[j])
        share = tickets / seg_tickets
        baseline = tickets_out_j / out_tickets
        lift = (
            share / baseline
            if baseline
            else ((tickets + 0.5) / (seg_tickets + 1)) / (0.5 / (out_tickets + 1))
        )
        ci_low, ci_high = _lift_interval(
            ClusteredRate(seg_customers, tickets, seg_tickets, float(residual_in[j])),
            ClusteredRate(out_customers, tickets_out_j, out_tickets, float(residual_out[j])),
            config.confidence,
            design_effect=design_effect(
                members=seg_customers,
                customers=everyone.customers,
                residual_squares=float(everyone.residual_squares[j]),
                topic=float(everyone.on_topic[j]),
                share=seg_tickets / everyone.tickets,
            ),
        )
        p_value = clustered_count_p_value(
            tickets,
            seg_tickets,
            float(everyone.on_topic[j]),
            everyone.tickets,
            members=seg_customers,
            customers=everyone.customers,
            residual_squares=float(everyone.residual_squares[j]),
            alternative=alternative,
        )
        expected_customers = seg_customers * int(customers_out[j]) / out_customers
        over = lift > 1
        enough = (
            customers >= config.min_customers and tickets >= config.min_tickets
            if over
            else expected_customers >= config.min_customers
        )
        cells.append(
            {
                "segment_id": sid,
                "topic_id": int(topic),
                "tickets": int(tickets),
                "customers": customers,
                "segment_tickets": int(seg_tickets),
                "segment_customers": seg_customers,
                "share": share,
                "baseline_share": baseline,
                "lift": lift,
                "ci_low": ci_low,
                "ci_high": ci_high,
                "p_value": max(p_value, SMALLEST_P_VALUE),
                "q_value": None,
                "significant": False,
                "_enough": enough,
            }
        )
    return cells


def _lift_interval(
    inside: ClusteredRate, outside: ClusteredRate, confidence: float, *, design_effect: float = 1.0
) -> tuple[float, float]:
    """Customer-clustered interval of the inside rate over the outside one.

    Falls back to the Katz log interval with a 0.5 correction where the clustered variance is
    not defined (a side with fewer than two customers or no ticket on the topic) or is 0 (all
    customers of a side alike: a point "interval" would claim a certainty few customers cannot
    give). Never narrower than the Katz interval with its variance times the topic's
    `design_effect`, the one the p-value divides the counts by: where a few customers send most
    of a topic's tickets, the clustered variance rests on those few and comes out too small as
    often as not (on random personas of a desk with such customers, the clustered "95%"
    interval covered a lift of 1 in 84-87% of them; with this floor 95-96%, bench/RESULTS.md).
    """
    z = z_score(confidence)
    if (
        inside.value > 0
        and outside.value > 0
        and inside.customers >= 2
        and outside.customers >= 2
        and inside.residual_squares > 0
        and outside.residual_squares > 0
    ):
        log_lift = float(np.log(inside.rate / outside.rate))
        clustered = np.sqrt(inside.log_variance() + outside.log_variance())
        katz = np.sqrt(
            design_effect
            * (1 / inside.value - 1 / inside.base + 1 / outside.value - 1 / outside.base)
        )
        se = max(float(clustered), float(katz))
        return float(np.exp(log_lift - z * se)), float(np.exp(log_lift + z * se))
    x, m = inside.value + 0.5, inside.base + 1.0
    y, k = outside.value + 0.5, outside.base + 1.0
    log_lift = np.log((x / m) / (y / k))
    se = np.sqrt(design_effect * (1 / x - 1 / m + 1 / y - 1 / k))
    return float(np.exp(log_lift - z * se)), float(np.exp(log_lift + z * se))


def _add_q_values(
    rows: list[dict[str, object]], group_rows: list[dict[str, object]], config: LinkConfig
) -> None:
    """Q-values and significance of every issue and theme cell of every segment, one family.

    One Benjamini-Hochberg over both levels: every claim a person reads, theme or issue, is
    covered by the same false discovery rate. A true theme (one holding a linked issue) counts
    as a true discovery beside its issue, so links are found more often than with the
    theme-first selection of `stats.hierarchical_discoveries` at the same null error (see
    bench/RESULTS.md, power).
    """
    every = rows + group_rows
    p_values: list[float | None] = [float(r["p_value"]) for r in every]  # type: ignore[arg-type]
    if config.findings == "over":
        p_values = conditional_p_values(p_values, threshold=UNDER_INDEXED_P)
    found = discoveries(
        p_values,
        alpha=config.alpha,
        eligible=[bool(r["_enough"]) and _is_finding(r, config) for r in every],
    )
    for row, q_value, significant in zip(every, found.q_values, found.significant, strict=True):
        # A cell left out of the family (it under-indexes) is no finding at any level: q = 1.
        row["q_value"] = 1.0 if q_value is None else q_value
        row["significant"] = significant
        row.pop("_enough")


def _is_finding(row: dict[str, object], config: LinkConfig) -> bool:
    """Whether the cell's interval supports a finding: above 1, or (both ways) excluding 1."""
    ci_low, ci_high = float(row["ci_low"]), float(row["ci_high"])  # type: ignore[arg-type]
    if config.findings == "over":
        return ci_low > 1
    return ci_low > 1 or ci_high < 1
