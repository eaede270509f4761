"""Issue trends: tickets per week (or month) of the largest issues of the current topic model.

Read-only: used by `persona-mining trends` and the HTML report. Periods are calendar weeks
(Monday first) or months in UTC. A period that the data window only partly covers (the
current week of a nightly run, say) is flagged `partial`, and the change is computed on the
latest complete period, so that a half-filled week never reads as a drop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb

from persona_mining.errors import ConfigError, StageError

PERIODS = ("week", "month")


@dataclass(frozen=True)
class IssueSeries:
    """Ticket counts of one issue, one per period of `IssueTrends.periods`."""

    topic_id: int
    issue: str
    counts: tuple[int, ...]
    total: int


@dataclass(frozen=True)
class IssueTrends:
    """Tickets per period of the top issues, oldest period first.

    Attributes:
        period: "week" or "month".
        periods: the first day of each period, with no gap (periods without tickets count 0).
        partial: for each period, whether the data window covers only part of it.
        series: the top issues, most tickets first.
        data_from: the first ticket's creation time.
        data_to: the last ticket's creation time.
    """

    period: str
    periods: tuple[date, ...]
    partial: tuple[bool, ...]
    series: tuple[IssueSeries, ...]
    data_from: datetime | None
    data_to: datetime | None

    @property
    def latest(self) -> int | None:
        """Index of the latest complete period (the last one if every period is partial)."""
        if not self.periods:
            return None
        complete = [i for i, partial in enumerate(self.partial) if not partial]
        return complete[-1] if complete else len(self.periods) - 1

    def change(self, series: IssueSeries) -> tuple[int | None, int | None, float | None]:
        """(latest, previous, relative change) of one issue; change is None when previous is 0."""
        index = self.latest
        if index is None:
            return None, None, None
        latest = series.counts[index]
        previous = series.counts[index - 1] if index > 0 else None
        if not previous:
            return latest, previous, None
        return latest, previous, (latest - previous) / previous


def issue_trends(
    con: duckdb.DuckDBPyConnection, *, period: str = "week", top: int = 8
) -> IssueTrends:
    """Count the tickets of the `top` largest issues per period, from `v_ticket_topics`.

    Unclustered tickets (topic -1) are not an issue and are left out.

    Raises:
        ConfigError: `period` is not "week" or "month", or `top` is below 1.
        StageError: the warehouse has no topic model yet.
    """
    if period not in PERIODS:
        raise ConfigError(f"period {period!r}: use week or month")
    if top < 1:
        raise ConfigError(f"top {top}: give at least 1 issue")
    if con.execute("SELECT count(*) FROM v_current_model").fetchone() == (0,):
        raise StageError(
            "no topic model in the warehouse yet; run `persona-mining run` "
            "(or `persona-mining demo`) first"
        )
    window = con.execute("SELECT min(created_at), max(created_at) FROM v_ticket_topics").fetchone()
    data_from, data_to = window if window else (None, None)
    if data_from is None or data_to is None:
        return IssueTrends(period, (), (), (), None, None)
    issues = con.execute(
        """SELECT topic_id, any_value(topic_label), count(*) AS tickets FROM v_ticket_topics
        WHERE topic_id <> -1 GROUP BY topic_id ORDER BY tickets DESC, topic_id LIMIT ?""",
        [top],
    ).fetchall()
    counts = {
        (topic, start): n
        for topic, start, n in con.execute(
            f"""SELECT topic_id, date_trunc('{period}', created_at)::DATE, count(*)
            FROM v_ticket_topics WHERE topic_id <> -1 GROUP BY ALL"""
        ).fetchall()
    }
    periods = _periods(data_from.date(), data_to.date(), period)
    # A day of slack: a week whose last ticket came in on Sunday evening is complete.
    first_day, last_day = data_from.date(), data_to.date()
    partial = tuple(
        first_day > start + timedelta(days=1) or last_day < _next(start, period) - timedelta(days=1)
        for start in periods
    )
    series = tuple(
        IssueSeries(
            topic_id=topic,
            issue=label,
            counts=tuple(counts.get((topic, start), 0) for start in periods),
            total=total,
        )
        for topic, label, total in issues
    )
    return IssueTrends(period, periods, partial, series, data_from, data_to)


def _periods(first: date, last: date, period: str) -> tuple[date, ...]:
    start = _start(first, period)
    out = []
    while start <= last:
        out.append(start)
        start = _next(start, period)
    return tuple(out)


def _start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next(start: date, period: str) -> date:
    if period == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
