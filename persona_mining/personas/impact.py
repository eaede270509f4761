"""What each issue costs each persona, wherever the tickets carry the outcome.

Over-indexing says *which* issues a persona raises more than everyone else; this stage says
which of them matter most. For every segment x issue of the current topic model with at
least one of the segment's tickets (`issue_impact`, view `v_issue_impact`):

- tickets, customers and the issue's share of the persona's contacts;
- repeat contacts (the trends stage's definition: the same customer on the same issue within
  `[trends] repeat_days`) as a rate of the persona's tickets on the issue, against the same
  rate among everyone else on the issue;
- for each outcome the tickets have (`persona_mining.personas.outcomes`: CSAT, resolution time,
  reopened, escalated): the mean (rate for yes/no columns) of the persona's tickets on the issue,
  the same among everyone else's tickets on the issue, their difference, and the *impact*: how
  much the persona's overall figure would improve without the issue (for CSAT, the mean of the
  persona's rated tickets without the issue minus the mean of all of them; for the others the
  fall in mean hours or rate). Resolution time also has its total and median hours.

Every rate, mean and difference carries an interval, customer-clustered because one
customer's tickets are not independent: the delta method on ratio estimators whose variance is
summed over customers (`persona_mining.stats`); the impact's variance comes from each
customer's linearised influence on both means at once, since the two share customers. A
variance over a handful of customers claims more than they can tell (two customers who rated
alike give a zero-width interval), so a figure resting on fewer than `[link] min_customers`
customers (on either side of a difference) is shown without an interval, as small cells are
in the link stage.

The headline `impact` is the first outcome the data has, in the order CSAT, resolution hours,
reopen rate, escalation rate, so that every row of one warehouse is ranked on one scale. It is
tested (Wald, clustered variance) and the p-values of every row are Benjamini-Hochberg
controlled at `[link] alpha`: a row is *costly* when its impact is above 0 and its q-value
below alpha, so that among a hundred persona x issue pairs the chance dip of one is not a
finding. A row
without it says why in `outcome_note` (no outcome column, or none of the persona's tickets on
the issue has a value): such rows are listed apart, never ranked last as if they cost nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
from scipy import stats as scipy_stats

from persona_mining.config import LinkConfig
from persona_mining.personas.outcomes import OutcomeColumn, outcome_columns
from persona_mining.personas.segments import segment_masks, sorted_keys, topic_positions
from persona_mining.stats import (
    ClusteredRate,
    Estimate,
    clustered_variance,
    discoveries,
    normal_interval,
    rate_difference,
    rate_estimate,
    z_score,
)
from persona_mining.topics.model import UNCLUSTERED, current_model
from persona_mining.topics.trends import repeat_contact_tickets
from persona_mining.warehouse import transaction

#: Outcome kinds (outcomes.py) and the column prefix of each in `issue_impact`, in the order
#: the headline impact is chosen.
MEASURES: dict[str, str] = {
    "csat": "csat",
    "resolution_time": "resolution_hours",
    "reopened": "reopen_rate",
    "escalated": "escalation_rate",
}
#: The count column of each measure (tickets with a value).
_COUNT_COLUMNS = {
    "csat": "csat_tickets",
    "resolution_hours": "resolution_tickets",
    "reopen_rate": "reopen_tickets",
    "escalation_rate": "escalation_tickets",
}
#: What each headline measure means, for people.
IMPACT_LABELS = {
    "csat": "CSAT points the persona would gain without the issue",
    "resolution_hours": "hours off the persona's mean resolution time without the issue",
    "reopen_rate": "points off the persona's reopen rate without the issue",
    "escalation_rate": "points off the persona's escalation rate without the issue",
}
NO_OUTCOME_COLUMNS = (
    "no outcome columns in the tickets (CSAT, resolution time, reopened, escalated)"
)


@dataclass(frozen=True)
class ImpactResult:
    """What one impact call did.

    Attributes:
        model_id: the topic model measured (None: no model yet, nothing done).
        cells: segment x issue rows written.
        measures: the outcome measures the data has (column prefixes of `issue_impact`).
        headline: the measure `impact` ranks on (None: the tickets have no outcome).
        costly: rows whose impact is above 0 with q below `[link] alpha`.
        seconds: wall time.
    """

    model_id: str | None
    cells: int
    measures: tuple[str, ...]
    headline: str | None
    costly: int
    seconds: float


@dataclass(frozen=True)
class _Rows:
    """Per customer x topic sums (one row each), and per customer totals.

    `topic` indexes `topics` (-1 for tickets outside them: unclustered, merged or ignored, in
    the totals only). `sums[name]` and `counts[name]` are the outcome's sum of values and
    number of tickets with a value, per row; `totals_*` the same per customer over all topics.
    """

    customers: list[str]
    topics: list[int]
    customer: np.ndarray
    topic: np.ndarray
    tickets: np.ndarray
    repeats: np.ndarray
    sums: dict[str, np.ndarray]
    counts: dict[str, np.ndarray]
    total_tickets: np.ndarray
    total_sums: dict[str, np.ndarray]
    total_counts: dict[str, np.ndarray]


def measure_issue_impact(
    con: duckdb.DuckDBPyConnection, *, config: LinkConfig, repeat_days: int = 14
) -> ImpactResult:
    """Rebuild `issue_impact` for the current topic model and every segment.

    Args:
        con: the warehouse, open for writing.
        config: the link stage's settings (`confidence` sets the intervals' level).
        repeat_days: `[trends] repeat_days`, so repeat contacts mean one thing everywhere.
    """
    started = time.perf_counter()
    current = current_model(con)
    if current is None:
        return ImpactResult(None, 0, (), None, 0, time.perf_counter() - started)
    model_id = current[0]
    outcomes = [o for o in outcome_columns(con) if o.kind in MEASURES]
    measures = tuple(MEASURES[o.kind] for o in sorted(outcomes, key=_measure_order))
    data = _load(con, model_id, outcomes, repeat_days)
    resolution = _resolution_stats(con, model_id, outcomes)
    members = segment_masks(con, data.customers)
    rows: list[dict[str, object]] = []
    for segment_id, mask in members.items():
        rows += _segment_rows(segment_id, mask, data, measures, config)
    for row in rows:
        key = (str(row["segment_id"]), int(row["topic_id"]))  # type: ignore[call-overload]
        row["resolution_hours_total"], row["resolution_hours_median"] = resolution.get(
            key, (None, None)
        )
        _headline(row, measures, config.confidence)
    found = discoveries(
        [r["impact_p_value"] for r in rows],  # type: ignore[misc]
        alpha=config.alpha,
        eligible=[r["impact"] is not None and float(r["impact"]) > 0 for r in rows],  # type: ignore[arg-type]
    )
    for row, q_value, costly in zip(rows, found.q_values, found.significant, strict=True):
        row["impact_q_value"], row["costly"] = q_value, costly
    with transaction(con):
        con.execute("DELETE FROM issue_impact")
        if rows:
            table = pa.Table.from_pylist([{**r, "model_id": model_id} for r in rows])
            con.register("__impact", table)
            columns = ", ".join(table.column_names)
            con.execute(
                f"INSERT INTO issue_impact ({columns}, computed_at) "
                f"SELECT {columns}, now()::TIMESTAMP FROM __impact"
            )
            con.unregister("__impact")
    return ImpactResult(
        model_id=model_id,
        cells=len(rows),
        measures=measures,
        headline=measures[0] if measures else None,
        costly=sum(1 for r in rows if r["costly"]),
        seconds=time.perf_counter() - started,
    )


def _measure_order(outcome: OutcomeColumn) -> int:
    return list(MEASURES).index(outcome.kind)


def _load(
    con: duckdb.DuckDBPyConnection,
    model_id: str,
    outcomes: Sequence[OutcomeColumn],
    repeat_days: int,
) -> _Rows:
    """Per customer x topic sums of the tickets with a known customer under the model."""
    topics = [
        r[0]
        for r in con.execute(
            # The topics the link stage tests: active, not ignored, not unclustered.
            "SELECT topic_id FROM topics WHERE model_id = ? AND topic_id <> ? "
            "AND coalesce(active, true) AND NOT coalesce(ignored, false) ORDER BY topic_id",
            [model_id, UNCLUSTERED],
        ).fetchall()
    ]
    # The outcome values come with the repeat-contact flags: one join of the tickets.
    assigned, params = repeat_contact_tickets(
        model_id, repeat_days, [o.value_sql for o in outcomes]
    )
    names = [MEASURES[o.kind] for o in outcomes]
    value_columns = "".join(
        f", sum(r.column_{i}) AS s_{n}, count(r.column_{i}) AS n_{n}" for i, n in enumerate(names)
    )
    result = con.execute(
        f"""SELECT r.customer_id, r.topic_id, count(*) AS tickets,
            count(*) FILTER (WHERE r.is_repeat) AS repeats{value_columns}
        FROM ({assigned}) r
        JOIN customers c ON c.customer_id = r.customer_id
        GROUP BY ALL ORDER BY ALL""",
        params,
    ).fetchnumpy()
    customers, customer = sorted_keys(result["customer_id"])
    topic = topic_positions(topics, result["topic_id"])

    def column(name: str) -> np.ndarray:
        return np.nan_to_num(np.asarray(result[name], dtype=np.float64))

    tickets, repeats = column("tickets"), column("repeats")
    sums = {n: column(f"s_{n}") for n in names}
    counts = {n: column(f"n_{n}") for n in names}
    m = len(customers)
    return _Rows(
        customers=customers,
        topics=topics,
        customer=customer,
        topic=topic,
        tickets=tickets,
        repeats=repeats,
        sums=sums,
        counts=counts,
        total_tickets=np.bincount(customer, weights=tickets, minlength=m),
        total_sums={n: np.bincount(customer, weights=v, minlength=m) for n, v in sums.items()},
        total_counts={n: np.bincount(customer, weights=v, minlength=m) for n, v in counts.items()},
    )


def _resolution_stats(
    con: duckdb.DuckDBPyConnection, model_id: str, outcomes: Sequence[OutcomeColumn]
) -> dict[tuple[str, int], tuple[float, float]]:
    """Total and median resolution hours of each segment's tickets on each topic."""
    resolution = next((o for o in outcomes if o.kind == "resolution_time"), None)
    if resolution is None:
        return {}
    value = resolution.value_sql
    rows = con.execute(
        f"""SELECT cs.segment_id, tt.topic_id, sum({value}), median({value})
        FROM ticket_topics tt
        JOIN tickets t ON t.ticket_id = tt.ticket_id
        JOIN (SELECT DISTINCT segment_id, customer_id FROM customer_segments) cs
            ON cs.customer_id = t.customer_id
        WHERE tt.model_id = ? AND {value} IS NOT NULL
        GROUP BY ALL""",
        [model_id],
    ).fetchall()
    return {(str(s), int(t)): (float(total), float(median)) for s, t, total, median in rows}


@dataclass(frozen=True)
class _TopicRates:
    """Per topic: a rate summed over rows (one row = one customer's tickets on the topic)."""

    customers: np.ndarray
    value: np.ndarray
    base: np.ndarray
    residual_squares: np.ndarray

    def rate(self, j: int) -> ClusteredRate:
        return ClusteredRate(
            int(self.customers[j]),
            float(self.value[j]),
            float(self.base[j]),
            float(self.residual_squares[j]),
        )


@dataclass(frozen=True)
class _Sides:
    """One segment's split of the rows: `key` puts each row in a bin, topic j of the segment's
    customers in bin j, of everyone else's in bin n + j, a row outside the topics in bin 2n;
    `rows` are the positions of the segment's rows on a topic."""

    key: np.ndarray
    rows: np.ndarray
    n_topics: int

    @classmethod
    def of(cls, data: _Rows, inside: np.ndarray) -> _Sides:
        n = len(data.topics)
        on_topic = data.topic >= 0
        key = np.where(on_topic, data.topic + np.where(inside, 0, n), 2 * n)
        return cls(key, np.flatnonzero(inside & on_topic), n)

    def sums(self, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Per topic, the sum of `weights` (None: the number of rows) over the segment's rows
        and over everyone else's."""
        n = self.n_topics
        total = np.bincount(self.key, weights=weights, minlength=2 * n + 1)
        return total[:n], total[n : 2 * n]

    def rates(self, value: np.ndarray, base: np.ndarray) -> tuple[_TopicRates, _TopicRates]:
        """Ratio estimators per topic, the segment's and everyone else's, with their residual
        sums over customers (rows with a base; a row without one has no value either)."""
        n = self.n_topics
        bins = 2 * n + 1
        customers = np.bincount(self.key, weights=base > 0, minlength=bins)
        total_value = np.bincount(self.key, weights=value, minlength=bins)
        total_base = np.bincount(self.key, weights=base, minlength=bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(
                total_base > 0, total_value / np.where(total_base > 0, total_base, 1), 0
            )
        residual = np.bincount(
            self.key, weights=(value - rate[self.key] * base) ** 2, minlength=bins
        )

        def side(part: slice) -> _TopicRates:
            return _TopicRates(
                customers[part].astype(np.int64),
                total_value[part],
                total_base[part],
                residual[part],
            )

        return side(slice(0, n)), side(slice(n, 2 * n))


def _segment_rows(
    segment_id: str,
    mask: np.ndarray,
    data: _Rows,
    measures: Sequence[str],
    config: LinkConfig,
) -> list[dict[str, object]]:
    confidence, least = config.confidence, config.min_customers
    sides = _Sides.of(data, mask[data.customer])
    tickets, _ = sides.sums(data.tickets)
    customers_on, _ = sides.sums()
    seg_tickets = float(data.total_tickets[mask].sum())
    if seg_tickets <= 0:
        return []
    share = _share(data, sides, mask, tickets, seg_tickets, confidence, least)
    repeat_in, repeat_out = sides.rates(data.repeats, data.tickets)
    blocks = {name: _measure(name, data, sides, mask, confidence, least) for name in measures}
    rows: list[dict[str, object]] = []
    for j, topic_id in enumerate(data.topics):
        if tickets[j] <= 0:
            continue
        row: dict[str, object] = {
            "segment_id": segment_id,
            "topic_id": int(topic_id),
            "tickets": int(tickets[j]),
            "customers": int(customers_on[j]),
            "segment_tickets": int(seg_tickets),
            "share": share[j].value,
            "share_low": _clip(share[j].ci_low, 0.0, 1.0),
            "share_high": _clip(share[j].ci_high, 0.0, 1.0),
            "repeat_contacts": int(repeat_in.value[j]),
        }
        row |= _compare(
            "repeat_rate", repeat_in, repeat_out, j, confidence, least, bounds=(0.0, 1.0)
        )
        for name in MEASURES.values():
            row[_COUNT_COLUMNS[name]] = 0
        for block in blocks.values():
            row |= block[j]
        rows.append(row)
    return rows


def _share(
    data: _Rows,
    sides: _Sides,
    mask: np.ndarray,
    tickets: np.ndarray,
    seg_tickets: float,
    confidence: float,
    least: int,
) -> list[Estimate]:
    """Each topic's share of the segment's tickets, clustered over the segment's customers.

    Every contacting customer of the segment is a cluster; one without a ticket on the topic
    contributes `share * their tickets` to the residual, added from the segment's totals.
    """
    n_topics = sides.n_topics
    totals = data.total_tickets[mask]
    contacting = int((totals > 0).sum())
    all_squares = float((totals**2).sum())
    t, y = data.topic[sides.rows], data.tickets[sides.rows]
    n = data.total_tickets[data.customer[sides.rows]]
    share = tickets / seg_tickets
    with_rows = np.bincount(
        t, weights=(y - share[t] * n) ** 2 - (share[t] * n) ** 2, minlength=n_topics
    )
    out = []
    for j in range(n_topics):
        residual = with_rows[j] + share[j] ** 2 * all_squares
        rate = ClusteredRate(contacting, float(tickets[j]), seg_tickets, float(max(residual, 0.0)))
        estimate = rate_estimate(rate, confidence=confidence)
        out.append(estimate if contacting >= least else Estimate(estimate.value, None, None))
    return out


def _measure(
    name: str,
    data: _Rows,
    sides: _Sides,
    mask: np.ndarray,
    confidence: float,
    least: int,
) -> list[dict[str, object]]:
    """One outcome's columns for every topic of one segment."""
    rates_in, rates_out = sides.rates(data.sums[name], data.counts[name])
    impacts = _removal_effects(name, data, sides, mask, confidence)
    rated_customers = rates_in.customers
    bounds = (0.0, 1.0) if name in ("reopen_rate", "escalation_rate") else None
    blocks = []
    for j in range(sides.n_topics):
        block: dict[str, object] = {_COUNT_COLUMNS[name]: int(rates_in.base[j])}
        block |= _compare(name, rates_in, rates_out, j, confidence, least, bounds=bounds)
        impact = impacts[j]
        if impact is not None and rated_customers[j] < least:
            impact = Estimate(impact.value, None, None)
        block[f"{name}_impact"] = impact.value if impact else None
        block[f"{name}_impact_low"] = impact.ci_low if impact else None
        block[f"{name}_impact_high"] = impact.ci_high if impact else None
        blocks.append(block)
    return blocks


def _compare(
    name: str,
    inside: _TopicRates,
    outside: _TopicRates,
    j: int,
    confidence: float,
    least: int,
    *,
    bounds: tuple[float, float] | None,
) -> dict[str, object]:
    """The persona's rate on topic j, everyone else's, and their difference, with intervals.

    An interval needs `least` customers with a value on each side it rests on.
    """
    suffixes = ("", "_low", "_high", "_others", "_diff", "_diff_low", "_diff_high")
    block: dict[str, object] = dict.fromkeys(f"{name}{suffix}" for suffix in suffixes)
    if inside.base[j] <= 0:
        return block
    rate_in = inside.rate(j)
    own = rate_estimate(rate_in, confidence=confidence)
    if rate_in.customers < least:
        own = Estimate(own.value, None, None)
    low, high = bounds if bounds else (None, None)
    block |= {
        name: own.value,
        f"{name}_low": _clip(own.ci_low, low, high),
        f"{name}_high": _clip(own.ci_high, low, high),
    }
    if outside.base[j] <= 0:
        return block
    rate_out = outside.rate(j)
    diff = rate_difference(rate_in, rate_out, confidence=confidence)
    if min(rate_in.customers, rate_out.customers) < least:
        diff = Estimate(diff.value, None, None)
    block |= {
        f"{name}_others": rate_out.rate,
        f"{name}_diff": diff.value,
        f"{name}_diff_low": diff.ci_low,
        f"{name}_diff_high": diff.ci_high,
    }
    return block


def _removal_effects(
    name: str,
    data: _Rows,
    sides: _Sides,
    mask: np.ndarray,
    confidence: float,
) -> list[Estimate | None]:
    """How much the segment's overall mean would improve without each topic, with intervals.

    With Y, N the segment's sum and count of values (M = Y / N) and y_t, n_t those of topic t,
    the mean without the topic is (Y - y_t) / (N - n_t). Both means are ratio estimators over
    the same customers, so the variance of their difference sums, over customers, the square of
    each customer's influence on the one minus its influence on the other.
    """
    n_topics = sides.n_topics
    y_tot, n_tot = data.total_sums[name][mask], data.total_counts[name][mask]
    rated = n_tot > 0
    m = int(rated.sum())
    total_value, total_base = float(y_tot.sum()), float(n_tot.sum())
    if total_base <= 0:
        return [None] * n_topics
    mean_all = total_value / total_base
    # Segment-wide sums of squares, over customers with a rated ticket.
    yy, yn, nn = float((y_tot**2).sum()), float((y_tot * n_tot).sum()), float((n_tot**2).sum())
    rows = sides.rows
    t = data.topic[rows]
    c = data.customer[rows]
    y_ct, n_ct = data.sums[name][rows], data.counts[name][rows]
    y_c, n_c = data.total_sums[name][c], data.total_counts[name][c]
    y_t = np.bincount(t, weights=y_ct, minlength=n_topics)
    n_t = np.bincount(t, weights=n_ct, minlength=n_topics)
    with_yy = np.bincount(t, weights=y_c**2, minlength=n_topics)
    with_yn = np.bincount(t, weights=y_c * n_c, minlength=n_topics)
    with_nn = np.bincount(t, weights=n_c**2, minlength=n_topics)
    base_wo = total_base - n_t
    safe = np.where(base_wo > 0, base_wo, 1.0)
    mean_wo = (total_value - y_t) / safe
    influence = (y_c - y_ct - mean_wo[t] * (n_c - n_ct)) / safe[t] - (
        y_c - mean_all * n_c
    ) / total_base
    with_squares = np.bincount(t, weights=influence**2, minlength=n_topics)
    alpha = 1 / safe - 1 / total_base
    beta = mean_wo / safe - mean_all / total_base
    out: list[Estimate | None] = []
    higher_is_better = name == "csat"
    for j in range(n_topics):
        if n_t[j] <= 0 or base_wo[j] <= 0:
            out.append(None)  # no value on the topic, or nothing left without it
            continue
        without_squares = (
            alpha[j] ** 2 * (yy - with_yy[j])
            - 2 * alpha[j] * beta[j] * (yn - with_yn[j])
            + beta[j] ** 2 * (nn - with_nn[j])
        )
        variance = clustered_variance(float(with_squares[j] + without_squares), m)
        effect = float(mean_wo[j] - mean_all)
        estimate = normal_interval(effect, variance, confidence=confidence)
        if not higher_is_better:  # lower is better: the gain is the fall of the mean
            estimate = Estimate(
                -estimate.value,
                None if estimate.ci_high is None else -estimate.ci_high,
                None if estimate.ci_low is None else -estimate.ci_low,
            )
        out.append(estimate)
    return out


def _headline(row: dict[str, object], measures: Sequence[str], confidence: float) -> None:
    """Set `impact` and its test from the first measure the data has, or say why there is none."""
    row |= {
        "impact_measure": None,
        "impact": None,
        "impact_low": None,
        "impact_high": None,
        "impact_p_value": None,
    }
    if not measures:
        row["outcome_note"] = NO_OUTCOME_COLUMNS
        return
    name = measures[0]
    row["impact_measure"] = name
    if row.get(f"{name}_impact") is None:
        row["outcome_note"] = (
            f"no {name.replace('_', ' ')} on the persona's tickets of this issue"
            if not row.get(_COUNT_COLUMNS[name])
            else f"every {name.replace('_', ' ')} value of the persona is on this issue"
        )
        return
    row["outcome_note"] = None
    row["impact"] = row[f"{name}_impact"]
    row["impact_low"] = row[f"{name}_impact_low"]
    row["impact_high"] = row[f"{name}_impact_high"]
    low, high = row["impact_low"], row["impact_high"]
    if low is not None and high is not None:
        se = (float(high) - float(low)) / (2 * z_score(confidence))  # type: ignore[arg-type]
        z = abs(float(row["impact"])) / se if se > 0 else float("inf")  # type: ignore[arg-type]
        row["impact_p_value"] = float(2 * scipy_stats.norm.sf(z))


def _clip(value: float | None, low: float | None, high: float | None) -> float | None:
    if value is None:
        return None
    if low is not None:
        value = max(value, low)
    if high is not None:
        value = min(value, high)
    return value
