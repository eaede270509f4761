"""Alerts: what is worth telling a support lead between two runs, kept once per period.

Two kinds, both about the latest `[trends] window_days` of the data against the window before:

- `emerging`: an issue the trends stage calls emerging (`v_issue_status`), for everyone.
- `persona_jump`: an issue raised by a significantly larger share of the persona's customers
  who wrote in the window than in the window before (customers, not tickets, so that one
  customer's burst of tickets is one voice): Fisher's exact test of (customers who raised the
  issue, who did not) x (recent, previous window), Benjamini-Hochberg q-values over every
  persona x issue, and a
  jump needs q < `[alerts] alpha`, a growth of the share of at least `min_growth` and
  `min_tickets` recent tickets. The persona's impact on the issue (`v_issue_impact`) goes
  with it.

An alert's key is its kind, persona, issue (stable topic key) and window: `pending_alerts`
leaves out those already sent (`sent_alerts`), so a nightly run never repeats one, and a
failed send is tried again by the next run while its window is the latest. This module only
reads and records; sending is the flow's business (flows/alerts.py), never the library's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import duckdb
from scipy import stats

from persona_mining.config import AlertsConfig, TrendsConfig
from persona_mining.stats import discoveries
from persona_mining.topics.labels import UNCLUSTERED
from persona_mining.topics.model import current_model
from persona_mining.warehouse import plausible_time_sql, transaction

SENT, FAILED, NOT_CONFIGURED = "sent", "failed", "not configured"


@dataclass(frozen=True)
class Alert:
    """One thing to tell people about.

    Attributes:
        kind: emerging | persona_jump.
        segment_id, persona: the persona (None for an issue emerging for everyone).
        topic_key: the issue's stable key (its label where it has none).
        issue: the issue's label.
        period_start, period_end: the window the alert is about (dates of the data).
        message: one line for people.
        detail: the evidence (counts, growth, q-value, impact), JSON-ready.
    """

    kind: str
    segment_id: str | None
    persona: str | None
    topic_key: str
    issue: str
    period_start: date
    period_end: date
    message: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """What makes an alert the same one on the next run."""
        return "|".join(
            (self.kind, self.segment_id or "", self.topic_key, self.period_start.isoformat())
        )

    def payload(self) -> dict[str, Any]:
        """The JSON a webhook receives."""
        data = asdict(self)
        data["key"] = self.key
        data["period_start"] = self.period_start.isoformat()
        data["period_end"] = self.period_end.isoformat()
        return data


@dataclass(frozen=True)
class AlertOutcome:
    """What became of one alert on this run: sent, failed (with why) or not configured."""

    alert: Alert
    status: str
    channel: str | None = None
    error: str | None = None


def find_alerts(
    con: duckdb.DuckDBPyConnection, *, trends: TrendsConfig, config: AlertsConfig
) -> list[Alert]:
    """Every alert of the latest window: emerging issues, then persona jumps (largest first)."""
    current = current_model(con)
    if current is None:
        return []
    model_id = current[0]
    bounds = con.execute(
        f"""SELECT max(t.created_at) FILTER (WHERE {plausible_time_sql("t.created_at")})
        FROM ticket_topics tt JOIN tickets t USING (ticket_id) WHERE tt.model_id = ?""",
        [model_id],
    ).fetchone()
    if not bounds or bounds[0] is None:
        return []
    last = bounds[0]
    start = con.execute(
        "SELECT (?::TIMESTAMP - to_days(?))::DATE", [last, trends.window_days]
    ).fetchone()
    period = (start[0] if start else last.date(), last.date())
    return _emerging(con, model_id, period) + _jumps(con, model_id, period, trends, config)


def pending_alerts(con: duckdb.DuckDBPyConnection, alerts: Sequence[Alert]) -> list[Alert]:
    """The alerts never sent nor settled before (a failed send is tried again)."""
    settled = {
        r[0]
        for r in con.execute(
            "SELECT alert_key FROM sent_alerts WHERE status <> ?", [FAILED]
        ).fetchall()
    }
    return [a for a in alerts if a.key not in settled]


def record_alerts(con: duckdb.DuckDBPyConnection, outcomes: Sequence[AlertOutcome]) -> None:
    """Keep what became of each alert, so that the next run does not send it again."""
    with transaction(con):
        for outcome in outcomes:
            a = outcome.alert
            con.execute(
                """INSERT INTO sent_alerts (alert_key, kind, segment_id, persona, topic_key, issue,
                    period_start, period_end, message, detail, status, channel, error, attempts,
                    first_seen_at, sent_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, now()::TIMESTAMP,
                    CASE WHEN ? = 'sent' THEN now()::TIMESTAMP END)
                ON CONFLICT (alert_key) DO UPDATE SET status = excluded.status,
                    channel = excluded.channel, error = excluded.error,
                    attempts = sent_alerts.attempts + 1, sent_at = excluded.sent_at""",
                [
                    a.key,
                    a.kind,
                    a.segment_id,
                    a.persona,
                    a.topic_key,
                    a.issue,
                    a.period_start,
                    a.period_end,
                    a.message,
                    json.dumps(a.detail, default=str),
                    outcome.status,
                    outcome.channel,
                    outcome.error,
                    outcome.status,
                ],
            )


def alerts_markdown(outcomes: Sequence[AlertOutcome]) -> list[str]:
    """The run artifact's section listing this run's alerts and what became of them."""
    lines = ["## Alerts", ""]
    if not outcomes:
        return [*lines, "No new alert: nothing emerged or jumped that was not already sent."]
    lines += ["| alert | persona | issue | window | status |", "|---|---|---|---|---|"]
    for o in outcomes:
        a = o.alert
        status = o.status + (f" ({o.channel})" if o.channel else "")
        if o.error:
            status += f": {o.error}"
        lines.append(
            f"| {_cell(a.message)} | {_cell(a.persona or 'everyone')} | {_cell(a.issue)} "
            f"| {a.period_start} to {a.period_end} | {_cell(status)} |"
        )
    return lines


def _emerging(
    con: duckdb.DuckDBPyConnection, model_id: str, period: tuple[date, date]
) -> list[Alert]:
    rows = con.execute(
        """SELECT coalesce(topic_key, issue), issue, recent_tickets, previous_tickets, growth,
            q_value, new_topic
        FROM v_issue_status WHERE emerging AND model_id = ?
        ORDER BY recent_tickets DESC, issue""",
        [model_id],
    ).fetchall()
    alerts = []
    for key, issue, recent, previous, growth, q_value, new in rows:
        how = "new issue" if new else f"x{growth:.1f} share of tickets" if growth else "rising"
        alerts.append(
            Alert(
                kind="emerging",
                segment_id=None,
                persona=None,
                topic_key=str(key),
                issue=str(issue),
                period_start=period[0],
                period_end=period[1],
                message=f"Emerging issue: {issue} ({how}: {recent} tickets vs {previous})",
                detail={
                    "recent_tickets": recent,
                    "previous_tickets": previous,
                    "growth": growth,
                    "q_value": q_value,
                    "new_topic": new,
                },
            )
        )
    return alerts


def _jumps(
    con: duckdb.DuckDBPyConnection,
    model_id: str,
    period: tuple[date, date],
    trends: TrendsConfig,
    config: AlertsConfig,
) -> list[Alert]:
    rows = con.execute(
        f"""WITH bounds AS (
            SELECT max(t.created_at) FILTER (WHERE {plausible_time_sql("t.created_at")}) AS last
            FROM ticket_topics tt JOIN tickets t USING (ticket_id)
            WHERE tt.model_id = $model
        ), windowed AS (
            SELECT cs.segment_id, tt.topic_id, t.customer_id,
                t.created_at > b.last - to_days($days) AND t.created_at <= b.last AS recent,
                t.created_at <= b.last - to_days($days)
                    AND t.created_at > b.last - to_days(2 * $days) AS previous
            FROM ticket_topics tt JOIN tickets t USING (ticket_id)
            JOIN (SELECT DISTINCT segment_id, customer_id FROM customer_segments) cs
                ON cs.customer_id = t.customer_id, bounds b
            WHERE tt.model_id = $model
        ), voices AS (
            SELECT segment_id, topic_id,
                count(DISTINCT customer_id) FILTER (WHERE recent) AS recent,
                count(DISTINCT customer_id) FILTER (WHERE previous) AS previous
            FROM windowed GROUP BY ALL
        ), totals AS (
            SELECT segment_id, count(DISTINCT customer_id) FILTER (WHERE recent) AS all_recent,
                count(DISTINCT customer_id) FILTER (WHERE previous) AS all_previous
            FROM windowed GROUP BY segment_id
        )
        SELECT w.segment_id, s.name, w.topic_id, coalesce(tp.topic_key, tp.label), tp.label,
            count(*) FILTER (WHERE w.recent), count(*) FILTER (WHERE w.previous),
            any_value(v.recent), any_value(v.previous),
            any_value(o.all_recent), any_value(o.all_previous),
            any_value(i.impact), any_value(i.impact_measure)
        FROM windowed w JOIN totals o USING (segment_id)
        JOIN voices v ON v.segment_id = w.segment_id AND v.topic_id = w.topic_id
        JOIN segments s ON s.segment_id = w.segment_id
        JOIN topics tp ON tp.model_id = $model AND tp.topic_id = w.topic_id
        LEFT JOIN issue_impact i ON i.model_id = $model AND i.segment_id = w.segment_id
            AND i.topic_id = w.topic_id
        WHERE w.topic_id <> $unclustered AND coalesce(tp.active, true)
            AND NOT coalesce(tp.ignored, false)
        GROUP BY w.segment_id, s.name, w.topic_id, tp.topic_key, tp.label
        ORDER BY w.segment_id, w.topic_id""",
        {"model": model_id, "days": trends.window_days, "unclustered": UNCLUSTERED},
    ).fetchall()
    tested = []
    for (
        sid,
        persona,
        _,
        key,
        issue,
        recent,
        previous,
        recent_voices,
        previous_voices,
        all_recent,
        all_previous,
        impact,
        measure,
    ) in rows:
        if not all_recent or not all_previous:
            continue
        table = [
            [recent_voices, all_recent - recent_voices],
            [previous_voices, all_previous - previous_voices],
        ]
        p_value = float(stats.fisher_exact(table, alternative="two-sided").pvalue)
        before, now = previous_voices / all_previous, recent_voices / all_recent
        growth = now / before if before else None
        eligible = recent >= config.min_tickets and (growth is None or growth >= config.min_growth)
        tested.append(
            _Jump(
                sid,
                persona,
                key,
                issue,
                recent,
                previous,
                recent_voices,
                previous_voices,
                now,
                before,
                growth,
                p_value,
                eligible,
                impact,
                measure,
            )
        )
    found = discoveries(
        [t.p_value for t in tested], alpha=config.alpha, eligible=[t.eligible for t in tested]
    )
    alerts = []
    for t, q_value, significant in zip(tested, found.q_values, found.significant, strict=True):
        if not significant:
            continue
        rise = f"x{t.growth:.1f}" if t.growth else "from none"
        alerts.append(
            Alert(
                kind="persona_jump",
                segment_id=str(t.segment_id),
                persona=str(t.persona),
                topic_key=str(t.topic_key),
                issue=str(t.issue),
                period_start=period[0],
                period_end=period[1],
                message=(
                    f"{t.persona}: {t.issue} raised by {t.now:.0%} of their customers who "
                    f"wrote ({rise}, {t.recent_customers} customers vs {t.previous_customers}, "
                    f"{t.recent} tickets vs {t.previous}; q = {q_value:.2g})"
                ),
                detail={
                    "recent_tickets": t.recent,
                    "previous_tickets": t.previous,
                    "recent_customers": t.recent_customers,
                    "previous_customers": t.previous_customers,
                    "share_now": t.now,
                    "share_before": t.before,
                    "growth": t.growth,
                    "p_value": t.p_value,
                    "q_value": q_value,
                    "impact": t.impact,
                    "impact_measure": t.measure,
                },
            )
        )
    alerts.sort(key=lambda a: -int(a.detail["recent_tickets"]))
    return alerts


@dataclass(frozen=True)
class _Jump:
    """One persona x issue tested for a jump between the two windows."""

    segment_id: Any
    persona: Any
    topic_key: Any
    issue: Any
    recent: int
    previous: int
    recent_customers: int
    previous_customers: int
    now: float
    before: float
    growth: float | None
    p_value: float
    eligible: bool
    impact: Any
    measure: Any


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
