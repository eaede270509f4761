"""Issue trends: tickets per week (or month) of the largest issues of the current topic model,
or of its themes (each theme's tickets: those of its issues added up).

Read-only: used by `persona-mining trends` and the HTML report. Periods are calendar weeks
(Monday first) or months in UTC. A period that the data window only partly covers (the
current week of a nightly run, say) is flagged `partial`, and the change is computed on the
latest complete period, so that a half-filled week never reads as a drop. Changes are rates
(tickets per day of the period the data covers: a March of 31 days against a February of 28),
and whether a change is more than noise is decided by the FDR over every issue (or theme) of
the level, shown or not: of thirty issues, one or two move at p < 0.05 by chance alone.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

import duckdb

from persona_mining.errors import ConfigError, StageError
from persona_mining.stats import CountChange, benjamini_hochberg, count_change
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
        days: for each period, the days of it that the data window covers (empty: periods of
            equal length, fully covered).
        others: the counts per period of the level's other issues (or themes), not shown: with
            `series`, the changes whose false discovery rate `evidence` controls.
    """

    period: str
    periods: tuple[date, ...]
    partial: tuple[bool, ...]
    series: tuple[IssueSeries | ThemeSeries, ...]
    data_from: datetime | None
    data_to: datetime | None
    level: str = "issue"
    days: tuple[int, ...] = ()
    others: tuple[tuple[int, ...], ...] = ()

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
        """(latest, previous, relative change of the daily rate) of one series; the change is
        None when previous is 0. For weeks it is the change of the counts."""
        index = self.latest
        if index is None:
            return None, None, None
        latest = series.counts[index]
        previous = series.counts[index - 1] if index > 0 else None
        if not previous:
            return latest, previous, None
        latest_days, previous_days = self._lengths(index)
        return latest, previous, latest / previous * previous_days / latest_days - 1

    def evidence(self, series: IssueSeries | ThemeSeries) -> CountChange | None:
        """Whether the latest complete period's change is more than noise (None: no period
        before it to compare with): the exact test of the two counts for the days each period
        covers, significant where its Benjamini-Hochberg q over every issue (or theme) of the
        level with a ticket in either period is below 0.05."""
        tested = self._tested(series.counts)
        if tested is None:
            return None
        position = next(i for i, s in enumerate(self.series) if s is series or s == series)
        q_value = self._q_values[position]
        if q_value is None:
            return tested
        return replace(tested, q_value=q_value, significant=q_value < _ALPHA)

    def _lengths(self, index: int) -> tuple[int, int]:
        """Days of the latest complete period and of the one before it that the data covers."""
        if not self.days:
            return 1, 1
        return max(1, self.days[index]), max(1, self.days[index - 1])

    def _tested(self, counts: tuple[int, ...]) -> CountChange | None:
        index = self.latest
        if index is None or index == 0:
            return None
        return count_change(counts[index], counts[index - 1], lengths=self._lengths(index))

    @functools.cached_property
    def _q_values(self) -> list[float | None]:
        """The q of each shown series' change (None where neither period has a ticket)."""
        index = self.latest
        every = [*(s.counts for s in self.series), *self.others]
        tests = [self._tested(counts) for counts in every]
        tested = [
            (i, test.p_value)
            for i, (counts, test) in enumerate(zip(every, tests, strict=True))
            if test is not None and index is not None and counts[index] + counts[index - 1] > 0
        ]
        q_values: list[float | None] = [None] * len(every)
        if tested:
            adjusted = benjamini_hochberg([p for _, p in tested])
            for (i, _), q in zip(tested, adjusted, strict=True):
                q_values[i] = float(q)
        return q_values[: len(self.series)]


#: The false discovery rate at which a change of the trends is called more than noise.
_ALPHA = 0.05


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
    shown = {id_ for id_, _, _ in largest}
    others = tuple(
        tuple(counts.get((id_, start), 0) for start in periods)
        for id_ in sorted({id_ for id_, _ in counts} - shown)
    )
    days = tuple(
        (_next(start, period) - start).days
        if not is_partial
        else (min(_next(start, period), last_day + timedelta(days=1)) - max(start, first_day)).days
        for start, is_partial in zip(periods, partial, strict=True)
    )
    return IssueTrends(
        period, periods, partial, series, data_from, data_to, level, days=days, others=others
    )


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
