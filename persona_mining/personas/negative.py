"""Negative personas: segments that cost significantly more to serve than everyone else.

Per customer, the stage measures cost-to-serve signals, each a rate `value / base`
(`customer_signals`):

- `tickets_per_customer`: tickets over customers (every customer, those without tickets too).
- `repeat_contacts`: tickets filed within `[trends] repeat_days` of an earlier ticket of the same
  customer on the same topic, over tickets with a topic (current topic model).
- `returns_refunds_complaints`: tickets on topics whose label or one of whose five leading
  keywords has a word starting with one of `return_keywords`, over tickets assigned by the
  current model. A keyword further down a topic's c-TF-IDF list is a side remark of its tickets
  (a price match "refunds the difference", a product "with free returns"), not what they ask.
- `negative_sentiment`: tickets whose VADER compound score is at most `negative_sentiment`,
  over the tickets in the analysed languages (VADER reads English).
- where the tickets have them (see `persona_mining.personas.outcomes`): `low_csat` (ratings in the
  bottom `low_rating_fraction` of the scale, over rated tickets), `escalated` and `reopened`
  (over tickets where the column is known), `resolution_time` (mean, over tickets with one).

Per segment and signal (`segment_signals`), the segment's rate is compared with everyone
outside it in the style of the link stage: the rate ratio, a customer-clustered interval (delta
method on the log of two ratio estimators, variance over customers), a Wald test of the log
ratio with that variance, and Benjamini-Hochberg q-values over every segment x signal. A signal
is *worse* when q < alpha, the interval lies above 1, the ratio is at least `min_ratio`, it
rests on at least `min_customers` customers who contribute to it (who file the tickets, the
returns, the low ratings), and it holds without the customer who contributes most (interval
still above 1, ratio still at least `min_ratio`): one chronic complainer never makes a segment
negative, however many tickets they file. A segment worse on at least `min_signals` signals
is flagged negative in `segment_flags`, with those signals as its drivers. A discovered segment
so flagged takes kind 'negative' in `segments` (and goes back to 'discovered' when it no longer
is); rule segments keep the kind their config gives them, so a persona declared negative that
the data does not confirm is visible as such.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from persona_mining import parallel
from persona_mining.config import NegativeConfig
from persona_mining.errors import StageError
from persona_mining.personas.outcomes import OutcomeColumn, low_rating_threshold, outcome_columns
from persona_mining.personas.segments import DISCOVERED_PREFIX
from persona_mining.stats import ClusteredRate, discoveries, rate_ratio
from persona_mining.topics.model import UNCLUSTERED, current_model
from persona_mining.topics.trends import repeat_contact_tickets
from persona_mining.warehouse import transaction

SENTIMENT_MAX_CHARS = 5_000

#: What each signal measures, for people (profiles, summaries, reports).
SIGNAL_LABELS = {
    "tickets_per_customer": "tickets per customer",
    "repeat_contacts": "repeat contacts",
    "returns_refunds_complaints": "return, refund and complaint tickets",
    "negative_sentiment": "tickets with negative sentiment",
    "low_csat": "low satisfaction ratings",
    "escalated": "escalated tickets",
    "reopened": "reopened tickets",
    "resolution_time": "resolution time",
}


@dataclass(frozen=True)
class NegativeResult:
    """What one negative-persona assessment did.

    Attributes:
        segments: segments assessed.
        negative: ids of the segments flagged negative by the data.
        signals: the signals measured (those the data allows).
        scored: prepared texts newly scored for sentiment.
        seconds: wall time.
    """

    segments: int
    negative: tuple[str, ...]
    signals: tuple[str, ...]
    scored: int
    seconds: float


def assess_negative_personas(
    con: duckdb.DuckDBPyConnection,
    *,
    config: NegativeConfig,
    repeat_days: int = 14,
    processes: int = 0,
) -> NegativeResult:
    """Rebuild `customer_signals`, `segment_signals` and `segment_flags` from the warehouse.

    `repeat_days` is `[trends] repeat_days`: repeat contacts mean the same thing in the trends
    and here. `processes` is `[scale] processes`: from `parallel.SENTIMENT_PARALLEL_FROM` texts
    to score, the sentiment is scored in that many worker processes (0: one per CPU core).

    Raises:
        StageError: a return keyword is empty, or sentiment cannot be scored.
    """
    started = time.perf_counter()
    current = current_model(con)
    model_id = current[0] if current else None
    method, scores = _sentiment_to_score(con, processes)
    outcomes = outcome_columns(con)
    with transaction(con):
        if scores:
            con.register("__sentiment", pa.table(scores))
            con.execute(
                """INSERT INTO ticket_sentiment (text_hash, method, compound, created_at)
                SELECT text_hash, ?, compound, now() FROM __sentiment""",
                [method],
            )
            con.unregister("__sentiment")
        con.execute("DELETE FROM customer_signals")
        for sql, params in _signal_queries(config, repeat_days, model_id, method, outcomes):
            con.execute(
                f"INSERT INTO customer_signals (customer_id, signal, value, base) {sql}", params
            )
        cells = _segment_cells(con, config)
        con.execute("DELETE FROM segment_signals")
        con.execute("DELETE FROM segment_flags")
        if cells:
            con.register("__cells", pa.Table.from_pylist([asdict(c) for c in cells]))
            con.execute(
                """INSERT INTO segment_signals (segment_id, signal, customers, value, baseline, ratio,
                    ci_low, ci_high, p_value, q_value, worse, assessed_at)
                SELECT segment_id, signal, customers, value, baseline, ratio, ci_low, ci_high,
                    p_value, q_value, worse, now() FROM __cells"""
            )
            con.unregister("__cells")
        flags = _flags(con, cells, config)
        if flags:
            con.register("__flags", pa.Table.from_pylist(flags))
            con.execute(
                """INSERT INTO segment_flags (segment_id, negative, worse_signals, drivers, assessed_at)
                SELECT segment_id, negative, worse_signals, drivers, now() FROM __flags"""
            )
            con.unregister("__flags")
        con.execute(
            """UPDATE segments SET kind = CASE WHEN f.negative THEN 'negative' ELSE 'discovered' END
            FROM segment_flags f
            WHERE segments.segment_id = f.segment_id AND starts_with(segments.segment_id, ?)""",
            [DISCOVERED_PREFIX],
        )
    measured = con.execute("SELECT DISTINCT signal FROM customer_signals ORDER BY 1").fetchall()
    return NegativeResult(
        segments=len(flags),
        negative=tuple(str(f["segment_id"]) for f in flags if f["negative"]),
        signals=tuple(r[0] for r in measured),
        scored=len(scores["text_hash"]) if scores else 0,
        seconds=time.perf_counter() - started,
    )


#: How many of a topic's leading c-TF-IDF keywords, beside its label, can mark it as a return,
#: refund or complaint topic.
RETURN_KEYWORDS_READ = 5


def return_topic_pattern(keywords: Sequence[str]) -> str:
    """The regular expression a topic's label and keywords are matched with (any case)."""
    words = [re.escape(w.strip().lower()) for w in keywords if w.strip()]
    if not words:
        raise StageError("negative: [negative] return_keywords is empty; list at least one word")
    return r"\b(" + "|".join(words) + ")"


def _sentiment_to_score(
    con: duckdb.DuckDBPyConnection, processes: int
) -> tuple[str, dict[str, list[object]] | None]:
    """VADER compound scores of the prepared texts not scored yet with this method."""
    try:
        from importlib.metadata import version

        import vaderSentiment  # noqa: F401
    except ImportError as e:  # pragma: no cover - a dependency of the package
        raise StageError(
            "negative: vaderSentiment is not installed; reinstall persona-mining (`make setup`)"
        ) from e
    method = f"vader-{version('vaderSentiment')}"
    pending = con.execute(
        """SELECT DISTINCT p.text_hash, p.text FROM prepared_tickets p
        WHERE NOT EXISTS (
            SELECT 1 FROM ticket_sentiment s WHERE s.text_hash = p.text_hash AND s.method = ?)
        ORDER BY p.text_hash""",
        [method],
    ).fetchall()
    if not pending:
        return method, None
    texts = [text[:SENTIMENT_MAX_CHARS] for _, text in pending]
    workers = parallel.processes_for(processes, len(texts), parallel.SENTIMENT_PARALLEL_FROM)
    chunks = [texts[i : i + _SENTIMENT_CHUNK] for i in range(0, len(texts), _SENTIMENT_CHUNK)]
    scored = (
        parallel.map_in_processes(_compound, chunks, workers)
        if workers > 1
        else map(_compound, chunks)
    )
    compound = [score for chunk in scored for score in chunk]
    return method, {"text_hash": [h for h, _ in pending], "compound": compound}


#: Texts per chunk of sentiment scoring sent to a worker process.
_SENTIMENT_CHUNK = 5_000


def _compound(texts: Sequence[str]) -> list[float]:
    """VADER's compound score of each text."""
    analyzer = _analyzer()
    return [float(analyzer.polarity_scores(text)["compound"]) for text in texts]


@functools.cache
def _analyzer() -> Any:
    """This process's VADER analyzer (it reads its lexicon once)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def _signal_queries(
    config: NegativeConfig,
    repeat_days: int,
    model_id: str | None,
    method: str,
    outcomes: Sequence[OutcomeColumn],
) -> list[tuple[str, list[object]]]:
    """One `SELECT customer_id, signal, value, base` per signal the data allows."""
    queries: list[tuple[str, list[object]]] = []
    if model_id is not None:
        # Repeat contacts (over clustered tickets) and return topics (over every assigned
        # ticket) in one pass over the assigned tickets; the label and keywords are matched
        # once per topic, not once per ticket.
        assigned, assigned_params = repeat_contact_tickets(model_id, repeat_days)
        queries.append(
            (
                f"""WITH per_customer AS MATERIALIZED (
                    SELECT r.customer_id,
                        count(*) FILTER (WHERE r.is_repeat AND r.topic_id <> ?) AS repeats,
                        count(*) FILTER (WHERE r.topic_id <> ?) AS clustered,
                        count(*) FILTER (WHERE tp.is_return) AS returns,
                        count(tp.topic_id) AS described
                    FROM ({assigned}) r JOIN customers c ON c.customer_id = r.customer_id
                    LEFT JOIN (
                        SELECT topic_id, topic_id <> ? AND regexp_matches(
                            lower(label || ' ' || array_to_string(
                                keywords[1:{RETURN_KEYWORDS_READ}], ' '
                            )), ?
                        ) AS is_return
                        FROM topics WHERE model_id = ?
                    ) tp ON tp.topic_id = r.topic_id
                    GROUP BY r.customer_id
                )
                SELECT customer_id, 'repeat_contacts', repeats, clustered
                FROM per_customer WHERE clustered > 0
                UNION ALL
                SELECT customer_id, 'returns_refunds_complaints', returns, described
                FROM per_customer WHERE described > 0""",
                [
                    UNCLUSTERED,
                    UNCLUSTERED,
                    *assigned_params,
                    UNCLUSTERED,
                    return_topic_pattern(config.return_keywords),
                    model_id,
                ],
            )
        )
    # Tickets per customer, negative sentiment and the outcome columns' signals in one pass
    # over the tickets. Each rate's rows are the customers with at least one ticket where it is
    # known (scored for sentiment, the outcome column filled); tickets per customer is a row for
    # every customer, those without tickets too.
    measured: list[tuple[str, str, str]] = [
        ("negative_sentiment", "count(*) FILTER (WHERE s.compound <= ?)", "s.text_hash")
    ]
    for outcome in outcomes:
        value = outcome.value_sql
        if outcome.kind == "csat":
            threshold = low_rating_threshold(outcome, config.low_rating_fraction)
            if threshold is None:
                continue
            measured.append(
                ("low_csat", f"count(*) FILTER (WHERE {value} <= {threshold!r})", value)
            )
        else:
            measured.append((outcome.kind, f"sum({value})", value))
    columns = ", ".join(
        f"{numerator} AS value_{i}, count({value}) AS base_{i}"
        for i, (_, numerator, value) in enumerate(measured)
    )
    rows = "".join(
        f" UNION ALL SELECT customer_id, '{signal}', value_{i}, base_{i} FROM per_customer "
        f"WHERE base_{i} > 0"
        for i, (signal, _, _) in enumerate(measured)
    )
    queries.append(
        (
            f"""WITH per_customer AS MATERIALIZED (
                SELECT t.customer_id, count(*) AS tickets, {columns}
                FROM tickets t JOIN customers c ON c.customer_id = t.customer_id
                LEFT JOIN prepared_tickets p ON p.ticket_id = t.ticket_id AND p.in_scope
                LEFT JOIN ticket_sentiment s ON s.text_hash = p.text_hash AND s.method = ?
                GROUP BY t.customer_id
            )
            SELECT c.customer_id, 'tickets_per_customer', coalesce(pc.tickets, 0), 1
            FROM customers c LEFT JOIN per_customer pc ON pc.customer_id = c.customer_id
            {rows}""",
            [config.negative_sentiment, method],
        )
    )
    return queries


@dataclass
class _Cell:
    """One segment x signal comparison, filled in step by step."""

    segment_id: str
    signal: str
    customers: int
    contributors: int = 0
    without_top: bool = False
    value: float | None = None
    baseline: float | None = None
    ratio: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    q_value: float | None = None
    worse: bool = False

    def evidence(self) -> dict[str, object]:
        """The cell as a driver of a negative flag (JSON-ready)."""
        return {
            "signal": self.signal,
            "label": SIGNAL_LABELS.get(self.signal, self.signal),
            "value": self.value,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "q_value": self.q_value,
        }


def _segment_cells(con: duckdb.DuckDBPyConnection, config: NegativeConfig) -> list[_Cell]:
    """Every segment x signal: the segment's rate against everyone outside it."""
    rows = con.execute(
        """WITH sums AS (
            SELECT signal, count(*) AS m, sum(value) AS y, sum(base) AS n,
                sum(value * value) AS yy, sum(value * base) AS yn, sum(base * base) AS nn
            FROM customer_signals GROUP BY signal
        ), members AS (
            SELECT DISTINCT segment_id, customer_id FROM customer_segments
        ), inside AS (
            SELECT segment_id, signal, count(*) AS m, sum(value) AS y, sum(base) AS n,
                sum(value * value) AS yy, sum(value * base) AS yn, sum(base * base) AS nn,
                count(*) FILTER (WHERE value > 0) AS k,
                arg_max(value, value) AS top_y, arg_max(base, value) AS top_n
            FROM customer_signals JOIN members USING (customer_id)
            GROUP BY ALL
        )
        SELECT s.segment_id, a.signal,
            coalesce(i.m, 0), coalesce(i.y, 0), coalesce(i.n, 0),
            coalesce(i.yy, 0), coalesce(i.yn, 0), coalesce(i.nn, 0),
            a.m - coalesce(i.m, 0), a.y - coalesce(i.y, 0), a.n - coalesce(i.n, 0),
            a.yy - coalesce(i.yy, 0), a.yn - coalesce(i.yn, 0), a.nn - coalesce(i.nn, 0),
            coalesce(i.k, 0), coalesce(i.top_y, 0), coalesce(i.top_n, 0)
        FROM segments s CROSS JOIN sums a
        LEFT JOIN inside i ON i.segment_id = s.segment_id AND i.signal = a.signal
        ORDER BY s.segment_id, a.signal"""
    ).fetchall()
    cells = [
        _compare(
            sid,
            signal,
            np.array(sums[:6], float),
            np.array(sums[6:12], float),
            config,
            contributors=int(sums[12]),
            top=(float(sums[13]), float(sums[14])),
        )
        for sid, signal, *sums in rows
    ]
    found = discoveries(
        [c.p_value for c in cells],
        alpha=config.alpha,
        eligible=[
            c.ci_low is not None
            and c.ci_low > 1
            and c.ratio is not None
            and c.ratio >= config.min_ratio
            and c.contributors >= config.min_customers
            and c.without_top
            for c in cells
        ],
    )
    for cell, q_value, worse in zip(cells, found.q_values, found.significant, strict=True):
        cell.q_value, cell.worse = q_value, worse
    return cells


def _compare(
    segment: str,
    signal: str,
    inside: np.ndarray,
    outside: np.ndarray,
    config: NegativeConfig,
    *,
    contributors: int = 0,
    top: tuple[float, float] = (0.0, 0.0),
) -> _Cell:
    """Rate ratio of two groups of customers from their sums (m, y, n, yy, yn, nn).

    `contributors`: the group's customers with a positive value (those who file the tickets,
    the returns, the low ratings); `top`: the value and base of the one who contributes most.
    The comparison is made again without that customer (`_Cell.without_top`), so that one
    customer never makes a group worse on their own.
    """
    m_in, y_in, n_in = (float(v) for v in inside[:3])
    m_out, y_out, n_out = (float(v) for v in outside[:3])
    cell = _Cell(segment, signal, int(m_in), contributors=contributors)
    cell.value = y_in / n_in if n_in > 0 else None
    cell.baseline = y_out / n_out if n_out > 0 else None
    if cell.value is not None and cell.baseline:
        cell.ratio = cell.value / cell.baseline
    if cell.ratio is None or y_in <= 0 or m_in < 2 or m_out < 2:
        return cell  # no clustered variance to speak of: reported, not tested
    compared = rate_ratio(
        ClusteredRate.from_sums(*(float(v) for v in inside)),
        ClusteredRate.from_sums(*(float(v) for v in outside)),
        confidence=config.confidence,
    )
    cell.ci_low, cell.ci_high, cell.p_value = compared.ci_low, compared.ci_high, compared.p_value
    value, base = top
    rest = inside - np.array([1.0, value, base, value * value, value * base, base * base])
    if rest[0] >= 2 and rest[1] > 0 and rest[2] > 0:
        again = rate_ratio(
            ClusteredRate.from_sums(*(float(v) for v in rest)),
            ClusteredRate.from_sums(*(float(v) for v in outside)),
            confidence=config.confidence,
        )
        cell.without_top = again.ci_low > 1 and again.ratio >= config.min_ratio
    return cell


def _flags(
    con: duckdb.DuckDBPyConnection, cells: list[_Cell], config: NegativeConfig
) -> list[dict[str, object]]:
    segments = [r[0] for r in con.execute("SELECT segment_id FROM segments ORDER BY 1").fetchall()]
    flags = []
    for sid in segments:
        worse = sorted(
            (c for c in cells if c.segment_id == sid and c.worse),
            key=lambda c: -(c.ratio or 0.0),
        )
        flags.append(
            {
                "segment_id": sid,
                "negative": len(worse) >= config.min_signals,
                "worse_signals": len(worse),
                "drivers": json.dumps([c.evidence() for c in worse]),
            }
        )
    return flags
