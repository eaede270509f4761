"""Recurring and emerging issues: volume, customers, repeat contacts and growth per topic.

For the current topic model, per topic and week: tickets, distinct customers and repeat
contacts (a ticket whose customer already raised the same topic within `repeat_days`).
Per topic, the latest `window_days` of the data are compared with the window before: the
growth is the ratio of the share of the window's voices that raised the topic in the two
windows (a voice: a customer who wrote in the window, an anonymous ticket one of its own),
tested with Fisher's exact test (q-values Benjamini-Hochberg over the topics). Counting voices, not tickets, keeps
one customer's burst of tickets from making an issue emerge, as the link stage counts a chronic
complainer as one voice. A topic is *emerging* when it grew significantly (q < alpha, growth
>= `emerging_growth`, at least `min_tickets` recent tickets, more than before) or when it is
new: its key first appeared in the current model and an older model exists.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
from scipy import stats

from persona_mining.config import TrendsConfig
from persona_mining.stats import discoveries
from persona_mining.topics.labels import UNCLUSTERED
from persona_mining.topics.model import current_model
from persona_mining.warehouse import plausible_time_sql, transaction


@dataclass(frozen=True)
class TrendsResult:
    """What one trends call did."""

    model_id: str | None
    topics: int
    emerging: int
    weeks: int
    seconds: float


def repeat_contact_tickets(
    model_id: str, repeat_days: int, columns: Sequence[str] = ()
) -> tuple[str, list[object]]:
    """A query of every ticket assigned by a model, flagged when it is a repeat contact.

    A ticket is a repeat contact when its customer filed a ticket on the same topic at most
    `repeat_days` before it (ties in time are ordered by ticket id). Anonymous tickets never
    are. The trends and negative-persona stages both count repeat contacts from this one
    definition.

    `columns` are more expressions over the ticket (alias `t`, e.g. an outcome column), each
    returned as `column_0`, `column_1`, ...

    Returns:
        The SQL of a relation (ticket_id, customer_id, topic_id, created_at, is_repeat, and the
        columns) and its parameters, bound in order: embed it as a subquery and put the
        parameters first when it comes first in the statement.
    """
    more = "".join(f"{column} AS column_{i}, " for i, column in enumerate(columns))
    sql = f"""SELECT tt.ticket_id, t.customer_id, tt.topic_id, t.created_at, {more}
            coalesce(t.customer_id IS NOT NULL AND t.created_at - lag(t.created_at) OVER (
                PARTITION BY t.customer_id, tt.topic_id ORDER BY t.created_at, t.ticket_id
            ) <= to_days(?), false) AS is_repeat
        FROM ticket_topics tt JOIN tickets t USING (ticket_id)
        WHERE tt.model_id = ?"""
    return sql, [repeat_days, model_id]


def compute_trends(con: duckdb.DuckDBPyConnection, *, config: TrendsConfig) -> TrendsResult:
    """Rebuild `topic_trends` (weekly) and `topic_status` (per topic) for the current model."""
    started = time.perf_counter()
    current = current_model(con)
    if current is None:
        return TrendsResult(None, 0, 0, 0, time.perf_counter() - started)
    model_id = current[0]
    with transaction(con):
        con.execute("DELETE FROM topic_trends WHERE model_id = ?", [model_id])
        assigned, assigned_params = repeat_contact_tickets(model_id, config.repeat_days)
        con.execute(
            f"""INSERT INTO topic_trends (model_id, topic_id, week, tickets, customers, repeat_contacts)
            WITH assigned AS ({assigned})
            SELECT ?, topic_id, date_trunc('week', created_at)::DATE, count(*), count(DISTINCT customer_id),
                   count(*) FILTER (WHERE is_repeat)
            FROM assigned GROUP BY ALL""",
            [*assigned_params, model_id],
        )
        rows = _status_rows(con, model_id, config)
        con.execute("DELETE FROM topic_status WHERE model_id = ?", [model_id])
        if rows:
            con.register("__status", pa.Table.from_pylist(rows))
            con.execute("INSERT INTO topic_status BY NAME SELECT * FROM __status")
            con.unregister("__status")
    weeks = con.execute(
        "SELECT count(DISTINCT week) FROM topic_trends WHERE model_id = ?", [model_id]
    ).fetchall()[0][0]
    return TrendsResult(
        model_id=model_id,
        topics=len(rows),
        emerging=sum(1 for r in rows if r["emerging"]),
        weeks=weeks,
        seconds=time.perf_counter() - started,
    )


def _status_rows(
    con: duckdb.DuckDBPyConnection, model_id: str, config: TrendsConfig
) -> list[dict[str, Any]]:
    older_models = con.execute(
        "SELECT count(*) FROM topic_models WHERE created_at < (SELECT created_at FROM topic_models WHERE model_id = ?)",
        [model_id],
    ).fetchall()[0][0]
    rows = con.execute(
        # One pass over the model's tickets: the recent and previous windows per topic.
        # A voice is a customer who wrote in the window (an anonymous ticket is one of its
        # own): the growth is tested on the share of the window's voices that raised the
        # topic, so that one customer's burst of tickets is one voice, as in the link stage.
        f"""WITH dated AS (
            SELECT tt.topic_id, t.created_at, t.customer_id,
                   coalesce(t.customer_id, '\0' || t.ticket_id) AS voice
            FROM ticket_topics tt JOIN tickets t USING (ticket_id)
            WHERE tt.model_id = $model
        ), bounds AS (
            SELECT max(created_at) FILTER (WHERE {plausible_time_sql("created_at")}) AS last FROM dated
        ), windowed AS (
            SELECT d.topic_id, d.voice, d.customer_id,
                   d.created_at > b.last - to_days($days) AND d.created_at <= b.last AS recent,
                   d.created_at <= b.last - to_days($days)
                       AND d.created_at > b.last - to_days(2 * $days) AS previous
            FROM dated d, bounds b
        ), per_topic AS (
            SELECT topic_id,
                   count(DISTINCT customer_id) AS customers,
                   count(*) FILTER (WHERE recent) AS recent,
                   count(*) FILTER (WHERE previous) AS previous,
                   count(DISTINCT voice) FILTER (WHERE recent) AS recent_voices,
                   count(DISTINCT voice) FILTER (WHERE previous) AS previous_voices
            FROM windowed GROUP BY topic_id
        ), totals AS (
            SELECT count(DISTINCT voice) FILTER (WHERE recent) AS all_recent,
                   count(DISTINCT voice) FILTER (WHERE previous) AS all_previous
            FROM windowed
        ), trend AS (
            SELECT topic_id, sum(tickets) AS tickets, sum(repeat_contacts) AS repeats
            FROM topic_trends WHERE model_id = $model GROUP BY topic_id
        )
        SELECT tp.topic_id, tp.first_model_id = $model AS new_key,
               coalesce(tr.tickets, 0), coalesce(w.customers, 0), coalesce(tr.repeats, 0),
               coalesce(w.recent, 0), coalesce(w.previous, 0), s.all_recent, s.all_previous,
               coalesce(w.recent_voices, 0), coalesce(w.previous_voices, 0)
        FROM topics tp
        LEFT JOIN trend tr ON tr.topic_id = tp.topic_id
        LEFT JOIN per_topic w ON w.topic_id = tp.topic_id, totals s
        WHERE tp.model_id = $model AND tp.topic_id <> $unclustered AND coalesce(tp.active, true)
        ORDER BY tp.topic_id""",
        {"model": model_id, "days": config.window_days, "unclustered": UNCLUSTERED},
    ).fetchall()
    out: list[dict[str, Any]] = []
    for (
        topic,
        new_key,
        tickets,
        customers,
        repeats,
        recent,
        previous,
        all_recent,
        all_previous,
        recent_voices,
        previous_voices,
    ) in rows:
        growth = p_value = None
        if all_recent and all_previous:
            table = [
                [recent_voices, all_recent - recent_voices],
                [previous_voices, all_previous - previous_voices],
            ]
            p_value = float(stats.fisher_exact(table).pvalue)
            if previous_voices:
                growth = (recent_voices / all_recent) / (previous_voices / all_previous)
        out.append(
            {
                "model_id": model_id,
                "topic_id": int(topic),
                "tickets": int(tickets),
                "customers": int(customers),
                "repeat_contacts": int(repeats),
                "repeat_rate": repeats / tickets if tickets else 0.0,
                "recent_tickets": int(recent),
                "previous_tickets": int(previous),
                "growth": growth,
                "p_value": p_value,
                "q_value": None,
                "new_topic": bool(new_key) and older_models > 0,
                "emerging": False,
            }
        )
    found = discoveries(
        [r["p_value"] for r in out],
        alpha=config.alpha,
        eligible=[
            (r["growth"] is None or float(r["growth"]) >= config.emerging_growth)
            and int(r["recent_tickets"]) >= config.min_tickets
            and int(r["recent_tickets"]) > int(r["previous_tickets"])
            for r in out
        ],
    )
    for row, q_value, grew in zip(out, found.q_values, found.significant, strict=True):
        row["q_value"] = q_value
        row["emerging"] = bool(grew or row["new_topic"])
    return out
