"""Issue trends: tickets per week (or month) of the largest issues of the current topic model,
or of its themes (each theme's tickets: those of its issues added up).

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
from persona_mining.stats import CountChange, count_change
from persona_mining.warehouse import plausible_time_sql

PERIODS = ("week", "month")
LEVELS = ("issue", "theme")


@dataclass(frozen=True)
class IssueSeries:
    """Ticket counts of one issue, one per period of `IssueTrends.periods`."""

    topic_id: int
    issue: str
    counts: tuple[int, ...]
    total: int

    @property
    def key(self) -> int:
        """The issue's topic id (what a theme series has as its group id)."""
        return self.topic_id

    @property
    def label(self) -> str:
        """The issue's label, as people read it."""
        return self.issue


@dataclass(frozen=True)
class ThemeSeries:
    """Ticket counts of one theme (a topic group: its issues added up), one per period."""

    group_id: int
    theme: str
    counts: tuple[int, ...]
    total: int

    @property
    def key(self) -> int:
        """The theme's group id."""
        return self.group_id

    @property
    def label(self) -> str:
        """The theme's label, as people read it."""
        return self.theme


@dataclass(frozen=True)
class IssueTrends:
    """Tickets per period of the top issues, oldest period first.

    Attributes:
        period: "week" or "month".
        periods: the first day of each period, with no gap (periods without tickets count 0).
        partial: for each period, whether the data window covers only part of it.
        series: the top issues (or themes), most tickets first.
        data_from: the first ticket's creation time.
        data_to: the last ticket's creation time.
        level: "issue", or "theme" when the series are themes.
    """

    period: str
    periods: tuple[date, ...]
    partial: tuple[bool, ...]
    series: tuple[IssueSeries | ThemeSeries, ...]
    data_from: datetime | None
    data_to: datetime | None
    level: str = "issue"

    @property
    def latest(self) -> int | None:
        """Index of the latest complete period (the last one if every period is partial)."""
        if not self.periods:
            return None
        complete = [i for i, partial in enumerate(self.partial) if not partial]
        return complete[-1] if complete else len(self.periods) - 1

    def change(
        self, series: IssueSeries | ThemeSeries
    ) -> tuple[int | None, int | None, float | None]:
        """(latest, previous, relative change) of one series; change is None when previous is 0."""
        index = self.latest
        if index is None:
            return None, None, None
        latest = series.counts[index]
        previous = series.counts[index - 1] if index > 0 else None
        if not previous:
            return latest, previous, None
        return latest, previous, (latest - previous) / previous

    def evidence(self, series: IssueSeries | ThemeSeries) -> CountChange | None:
        """Whether the latest complete period's change is more than noise (None: no period
        before it to compare with)."""
        latest, previous, _ = self.change(series)
        if latest is None or previous is None:
            return None
        return count_change(latest, previous)


# What one level counts, from `v_ticket_topics`: the series' id and label, the rows it counts.
# Unclustered tickets (topic -1, and its group -1) are neither an issue nor a theme.
_SOURCES = {
    "issue": (
        "topic_id",
        "topic_label",
        "v_ticket_topics WHERE topic_id <> -1",
    ),
    "theme": (
        "tt.group_id",
        "g.label",
        """v_ticket_topics tt
        JOIN topic_groups g ON g.model_id = tt.model_id AND g.group_id = tt.group_id
        WHERE tt.topic_id <> -1 AND tt.group_id <> -1""",
    ),
}


def issue_trends(
    con: duckdb.DuckDBPyConnection, *, period: str = "week", top: int = 8, level: str = "issue"
) -> IssueTrends:
    """Count the tickets of the `top` largest issues (or themes) per period, from `v_ticket_topics`.

    Unclustered tickets (topic -1) are not an issue and are left out. A theme's count is the
    sum of its issues' counts.

    Raises:
        ConfigError: `period` is not "week" or "month", `level` not "issue" or "theme", or
            `top` is below 1.
        StageError: the warehouse has no topic model yet.
    """
    if period not in PERIODS:
        raise ConfigError(f"period {period!r}: use week or month")
    if level not in LEVELS:
        raise ConfigError(f"level {level!r}: use issue or theme")
    if top < 1:
        raise ConfigError(f"top {top}: give at least 1 {level}")
    if con.execute("SELECT count(*) FROM v_current_model").fetchone() == (0,):
        raise StageError(
            "no topic model in the warehouse yet; run `persona-mining run` "
            "(or `persona-mining demo`) first"
        )
    plausible = plausible_time_sql("created_at")
    window = con.execute(
        f"""SELECT min(created_at) FILTER (WHERE {plausible}),
            max(created_at) FILTER (WHERE {plausible}) FROM v_ticket_topics"""
    ).fetchone()
    data_from, data_to = window if window else (None, None)
    if data_from is None or data_to is None:
        return IssueTrends(period, (), (), (), None, None, level)
    key, label, source = _SOURCES[level]
    largest = con.execute(
        f"""SELECT {key} AS key, any_value({label}), count(*) AS tickets FROM {source}
        GROUP BY {key} ORDER BY tickets DESC, key LIMIT ?""",
        [top],
    ).fetchall()
    counts = {
        (series, start): n
        for series, start, n in con.execute(
            f"""SELECT {key}, date_trunc('{period}', created_at)::DATE, count(*)
            FROM {source} GROUP BY ALL"""
        ).fetchall()
    }
    periods = _periods(data_from.date(), data_to.date(), period)
    # A day of slack: a week whose last ticket came in on Sunday evening is complete.
    first_day, last_day = data_from.date(), data_to.date()
    partial = tuple(
        first_day > start + timedelta(days=1) or last_day < _next(start, period) - timedelta(days=1)
        for start in periods
    )
    kind = IssueSeries if level == "issue" else ThemeSeries
    series = tuple(
        kind(
            id_,
            name,
            tuple(counts.get((id_, start), 0) for start in periods),
            total,
        )
        for id_, name, total in largest
    )
    return IssueTrends(period, periods, partial, series, data_from, data_to, level)


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
