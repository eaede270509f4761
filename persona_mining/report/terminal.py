"""What the CLI prints: rows as a table, CSV, JSON or Markdown; persona profiles; issue trends;
the warehouse's status.

The CLI prints what these functions build; they never print. Their output is a `str` (written
to stdout as it is: CSV, JSON, Markdown), a `Text` (one line, soft-wrapped), or another rich
renderable (a table). Text from the warehouse goes into rich `Text` objects, never parsed as
markup. Tables choose their column widths when drawn (`report.layout`): at 80 columns and wider no
word is broken, and a table that leaves rows out says so. One-line summaries of commands are in
`report.messages`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.text import Text

from persona_mining.report.export import spreadsheet_cell
from persona_mining.report.html import (
    ONLY_THEM,
    UNBOUNDED_LIFT,
    fmt_bound,
    fmt_interval,
    fmt_lift,
    fmt_pct,
    fmt_q,
)
from persona_mining.report.issue_series import IssueTrends
from persona_mining.report.layout import (
    BoxTable,
    Column,
    FittedTable,
    hidden_rows_note,
    with_note,
)
from persona_mining.report.profile_records import Challenge, PersonaProfile, ThemeChallenge
from persona_mining.report.queries import (
    ISSUE_BY_PERSONA_COLUMNS,
    THEME_BY_PERSONA_COLUMNS,
    Rows,
)
from persona_mining.stats import CountChange

if TYPE_CHECKING:
    from persona_mining.run_history import WarehouseStatus
    from persona_mining.topics.evaluate import EvaluationResult

#: Columns drawn right-aligned and never folded: numbers, and short identifiers and dates.
NUMERIC_COLUMNS = frozenset(
    {
        "tickets",
        "customers",
        "share",
        "baseline_share",
        "lift",
        "ci_low",
        "ci_high",
        "q_value",
        "p_value",
        "95% CI",
        "cust",
        "sig",
        "repeat",
        "recent",
        "before",
        "growth",
        "q",
        # short identifiers and dates of the topics listing: never folded
        "key",
        "size",
        "first_seen",
        "kind",
    }
)


#: Rows the terminal table of `table` shows unless `--limit` says otherwise.
TABLE_ROWS = 40
#: How over- and under-indexed significant cells are marked, and the legend that says so.
OVER, UNDER = "▲", "▼"
OVER_STYLE, UNDER_STYLE = "bold dark_orange3", "bold blue"
LEGEND = f"{OVER} significantly over-indexed (raised more than by others), {UNDER} under-indexed"


def rows_output(
    table: Rows,
    fmt: str,
    *,
    title: str,
    limit: int = 0,
    hint: str = "",
    spreadsheet_safe: bool = True,
) -> RenderableType:
    """Rows in the format asked for: json, csv, markdown (strings) or a table for people.

    The issue- and theme-by-persona columns are narrowed to fit 80 columns (the interval in
    one cell, an issue's theme left out); CSV and JSON keep every value as it is, Markdown and
    the table format them for people. A table shows its first `limit` rows (0: all) and says
    how many it leaves out, and `hint`: how to see them all. In CSV, a text that a spreadsheet
    would run as a formula is led by a quote unless `spreadsheet_safe` is false
    (`spreadsheet_cell`).
    """
    columns: Sequence[str] = table.columns
    rows = table.rows
    if fmt == "json":
        records = [dict(zip(columns, r, strict=True)) for r in rows]
        return json.dumps(records, default=str, indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(columns)
        # Booleans as DuckDB's CSV writer has them (`table --csv`, `export`): true, false.
        rows = [tuple(str(v).lower() if isinstance(v, bool) else v for v in row) for row in rows]
        if spreadsheet_safe:
            rows = [tuple(spreadsheet_cell(v) for v in row) for row in rows]
        writer.writerows(rows)
        return buffer.getvalue()
    if fmt == "markdown":
        cells = [_readable_cells(columns, row) for row in rows]
        lines = ["| " + " | ".join(map(_md, columns)) + " |\n|" + "---|" * len(columns) + "\n"]
        lines += ["| " + " | ".join(map(_md, row)) + " |\n" for row in cells]
        return "".join(lines)
    if not rows:
        return Text(f"{title}: no rows" if title else "no rows")
    shown = rows[:limit] if limit > 0 else rows
    note = hidden_rows_note(len(shown), len(rows), hint) if len(shown) < len(rows) else None
    if tuple(columns) in (ISSUE_BY_PERSONA_COLUMNS, THEME_BY_PERSONA_COLUMNS):
        view = _compact(columns, shown, title=title)
        if any(r[columns.index("significant")] for r in shown):
            return Group(view, Text(LEGEND, style="dim"), *([note] if note else []))
        return with_note(view, note)
    numeric = [
        c in NUMERIC_COLUMNS or all(_is_number(r[i]) or r[i] is None for r in shown)
        for i, c in enumerate(columns)
    ]
    view = FittedTable(
        [Column(c, numeric=n) for c, n in zip(columns, numeric, strict=True)],
        [[format_cell(c, v) for c, v in zip(columns, row, strict=True)] for row in shown],
        title=title or None,
    )
    return with_note(view, note)


def query_output(result: Rows, fmt: str, *, limit: int = TABLE_ROWS) -> RenderableType:
    """The result of `persona-mining sql`: CSV, JSON or Markdown whole, or boxed like the
    DuckDB shell (one line per row, wide cells cut with an ellipsis, the row count below)."""
    if fmt != "table":
        # An analyst's query result, for tools: every value as stored.
        return rows_output(result, fmt, title="", spreadsheet_safe=False)
    if not result.columns:
        return Text("done: the statement returns no rows")
    shown = result.rows[:limit] if limit > 0 else result.rows
    return BoxTable(
        result.columns,
        shown,
        types=result.types,
        total_rows=len(result.rows),
        hint=(
            "--limit 0 shows every row; --format csv writes every row and column in full"
            if len(shown) < len(result.rows)
            else "--format csv writes every column in full"
        ),
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def format_cell(column: str, value: Any) -> str:
    """One value for people: shares as percentages, q-values as the report writes them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if column in {"share", "baseline_share"}:
        return fmt_pct(value)
    if column in {"q_value", "p_value", "q"}:
        return fmt_q(value)
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _readable_cells(columns: Sequence[str], row: Sequence[Any]) -> list[str]:
    """One row's values for people, as `format_cell` writes them, and a cell's lift and interval
    as the terminal and the report show them: "only them" where nobody else raises the issue
    (the number comes from a continuity correction and says nothing), and an interval's end
    from `UNBOUNDED_LIFT` up as unbounded. CSV and JSON keep the numbers, beside
    `baseline_share`, which tells such a cell."""
    values = dict(zip(columns, row, strict=True))
    out = []
    for column, value in values.items():
        if column == "lift" and value is not None and values.get("baseline_share") == 0:
            out.append(ONLY_THEM)
        elif column in ("ci_low", "ci_high") and _is_number(value) and value >= UNBOUNDED_LIFT:
            out.append(fmt_bound(value))
        else:
            out.append(format_cell(column, value))
    return out


def _compact(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str) -> FittedTable:
    """The issue- or theme-by-persona table narrowed to fit 80 columns.

    The interval goes in one cell; an issue's theme is left out (a third text column would
    squeeze the persona and issue names: `--level theme` shows themes). A significant cell's
    lift is marked ▲ (over-indexed) or ▼ (under-indexed) and coloured: the mark takes no
    column of its own, so that the names keep the width.
    """
    label = "theme" if "issue" not in columns else "issue"
    at = {c: i for i, c in enumerate(columns)}
    out: list[list[Text | str]] = []
    for row in rows:
        name = Text(str(row[at[label]]))
        low, high = row[at["ci_low"]], row[at["ci_high"]]
        interval = fmt_interval(low, high, "-") if low is not None and high is not None else ""
        mark, style = _marker(row[at["significant"]], row[at["lift"]])
        lift = ONLY_THEM if row[at["baseline_share"]] == 0 else format_cell("lift", row[at["lift"]])
        out.append(
            [
                Text(str(row[at["persona"]])),
                name,
                str(row[at["tickets"]]),
                str(row[at["customers"]]),
                Text(mark + lift, style=style),
                interval,
                format_cell("q_value", row[at["q_value"]]),
            ]
        )
    names = ["persona", label, "tickets", "cust", "lift", "95% CI", "q"]
    return FittedTable(
        [Column(n, numeric=n in NUMERIC_COLUMNS) for n in names], out, title=title or None
    )


def _marker(significant: Any, lift: float | None) -> tuple[str, str]:
    """The mark and colour of a cell: ▲ over-indexed, ▼ under-indexed, nothing if not significant."""
    if not significant or lift is None or lift == 1:
        return "", ""
    return (OVER, OVER_STYLE) if lift > 1 else (UNDER, UNDER_STYLE)


def issue_table_output(
    cells: Rows, fmt: str, *, significant_only: bool, level: str = "issue", limit: int = 0
) -> RenderableType:
    """The issue-by-persona (or theme-by-persona) table of `persona-mining table`.

    `limit` cuts the rows of every format; the terminal table says how many it leaves out.
    """
    title = ("Theme" if level == "theme" else "Issue") + " by persona"
    title += " (significant cells)" if significant_only else ""
    if fmt != "table" and limit > 0:
        cells = Rows(cells.columns, cells.rows[:limit])
    hint = "--limit 0 shows them all (--format csv writes them all)"
    table = rows_output(cells, fmt, title=title, limit=limit, hint=hint)
    notes = _theme_notes(cells, limit) if fmt == "table" and level == "theme" else []
    return Group(table, *notes) if notes else table


def _theme_notes(cells: Rows, limit: int) -> list[Text]:
    """Under the theme table: which issues of each significant multi-issue theme are findings
    on their own. A theme is named after its largest issue, which need not be the one the
    persona raises ("Damaged parcel" over-indexed for students through its Warranty tickets);
    "none" marks a finding at the theme level only, its issues each too small alone."""
    if "issues_alone" not in cells.columns:
        return []
    at = {c: i for i, c in enumerate(cells.columns)}
    shown = cells.rows[:limit] if limit > 0 else cells.rows
    notes = [
        Text(
            f"{row[at['persona']]} · {row[at['theme']]}: "
            f"{row[at['issues_alone']] or 'none'} of its {row[at['issues']]} issues",
            style="dim",
        )
        for row in shown
        if row[at["significant"]] and (row[at["issues"]] or 0) > 1
    ]
    if not notes:
        return []
    head = Text("Issues that are findings on their own, in themes of several:", style="dim")
    return [head, *notes]


def issue_status_output(issues: Rows, fmt: str) -> RenderableType:
    """The recurring and emerging issues of `persona-mining trends --status`: every column under
    its own name in CSV, JSON and Markdown; in the terminal, shortened to fit 80 columns, with a
    flag for a new or a rising issue."""
    title = "Recurring and emerging issues"
    if fmt != "table":
        return rows_output(issues, fmt, title=title)
    at = {c: i for i, c in enumerate(issues.columns)}

    def short(row: Sequence[Any]) -> tuple[Any, ...]:
        flag = "new" if row[at["new_topic"]] else "rising" if row[at["emerging"]] else ""
        rate, growth = row[at["repeat_rate"]], row[at["growth"]]
        return (
            row[at["issue"]],
            row[at["tickets"]],
            row[at["customers"]],
            None if rate is None else round(rate, 2),
            row[at["recent_tickets"]],
            row[at["previous_tickets"]],
            None if growth is None else round(growth, 2),
            row[at["q_value"]],
            flag,
        )

    columns = ["issue", "tickets", "cust", "repeat", "recent", "before", "growth", "q", "flag"]
    table = rows_output(Rows(columns, [short(r) for r in issues.rows]), fmt, title=title)
    return Group(table, Text(ISSUE_STATUS_LEGEND, style="dim")) if issues.rows else table


#: What the columns of `trends --status` in the terminal mean: growth is of customers, not of
#: tickets, so that "recent 87, before 122, growth 2.36" does not read as a contradiction.
ISSUE_STATUS_LEGEND = (
    "repeat: share of the issue's tickets that come back within [trends] repeat_days; "
    "recent, before: tickets in the latest [trends] window and the one before; growth: how "
    "the share of each window's customers who raise the issue changed (one customer's many "
    "tickets count once); q: its FDR q-value; flag: new topic, or rising (significant growth "
    "of at least [trends] emerging_growth, with more tickets than before)"
)


def topics_output(topics: Sequence[dict[str, Any]], fmt: str) -> RenderableType:
    """The current model's topics with their theme; the table fits the terminal (long labels
    and themes wrap; state in a note)."""
    if fmt == "table":
        shown = [
            (
                r["key"],
                r["label"],
                r["size"],
                r["group"] or "",
                r["first_seen"],
                r["kind"],
                r["state"] or r["curation"],
            )
            for r in topics
        ]
        columns = ["key", "label", "size", "theme", "first_seen", "kind", "note"]
        return rows_output(Rows(columns, shown), fmt, title="Topics")
    columns = list(topics[0]) if topics else ["key", "label"]
    return rows_output(Rows(columns, [tuple(r.values()) for r in topics]), fmt, title="Topics")


def evaluation_output(result: EvaluationResult, fmt: str) -> RenderableType:
    """The topic-quality metrics, one row each."""
    rows = list(asdict(result).items())
    return rows_output(Rows(["metric", "value"], rows), fmt, title="Topic quality")


def persona_output(profile: PersonaProfile, fmt: str) -> RenderableType:
    """A persona profile as JSON or Markdown text, or (any other format) the terminal view."""
    if fmt == "json":
        return json.dumps(profile.to_dict(), default=str, indent=2) + "\n"
    if fmt == "markdown":
        return persona_markdown(profile) + "\n"
    return persona_view(profile)


#: What a persona the config declares negative, and the data does not confirm, is shown with.
DECLARED_NEGATIVE = "declared negative in the config, not confirmed by the data"

SPARK = "▁▂▃▄▅▆▇█"
SPARK_PERIODS = 12


def persona_view(profile: PersonaProfile) -> RenderableType:
    """A persona profile for the terminal: who, how much, challenges with evidence, questions."""
    title = Text(profile.persona, style="bold")
    if profile.shown_kind != "negative":  # a negative segment's kind is said once, just below
        title.append(f"  ({profile.shown_kind})", style="dim")
    if profile.negative:
        title.append("  NEGATIVE PERSONA", style="bold red")
    parts: list[RenderableType] = [title]
    if profile.negative:
        parts.append(Text(f"  {profile.cost_sentence()}", style="red"))
    elif profile.unconfirmed_negative:
        parts.append(Text(f"  {DECLARED_NEGATIVE}", style="dim"))
    for driver in profile.negative_drivers:
        parts.append(
            Text(
                f"  costs: {driver.get('label') or driver.get('signal')} "
                f"{fmt_lift(driver.get('ratio'))}x everyone else (95% CI "
                f"{fmt_interval(driver.get('ci_low'), driver.get('ci_high'), '-')}, "
                f"q {fmt_q(driver.get('q_value'))})",
                style="red",
            )
        )
    if profile.description:
        parts.append(Text(profile.description, style="italic"))
    if profile.rule:
        parts.append(Text("Who: ", style="dim") + Text(profile.rule))
    per_customer = (
        f"{profile.tickets_per_customer:.1f}" if profile.tickets_per_customer is not None else "n/a"
    )
    parts.append(
        Text(
            f"{profile.customers:,} customers · {profile.contacting_customers:,} contacted support"
            f" · {profile.tickets:,} tickets · {per_customer} per customer"
        )
    )
    for line in profile.impact_lines():
        parts.append(Text("impact: ", style="bold") + Text(line))
    parts += [Text(""), Text(profile.summary), Text("")]
    if profile.challenges:
        parts.append(_challenges_table(profile))
    else:
        parts.append(
            Text(
                profile.no_findings
                or "No issue stands out for this persona with statistical confidence."
            )
        )
    if profile.theme_challenges:
        parts += [Text(""), _theme_challenges_table(profile)]
        note = _theme_only_note(profile)
        if note:
            parts.append(Text(note, style="dim"))
    asked = [c for c in profile.challenges if c.questions]
    if asked:
        parts.append(Text("Common questions", style="bold"))
        for c in asked:
            parts.append(Text(c.label, style="bold"))
            parts += [Text("  - ") + Text(q) for q in c.questions]
    return Group(*parts)


def _challenges_table(profile: PersonaProfile) -> RenderableType:
    return FittedTable(
        [Column("issue"), *(Column(n, numeric=True) for n in _CHALLENGE_NUMBERS)],
        [[Text(c.label), *_challenge_cells(c)] for c in profile.challenges],
        title="Challenges (significantly over-indexed issues)",
        title_justify="left",
    )


def _theme_challenges_table(profile: PersonaProfile) -> RenderableType:
    """The over-indexed themes; `issues` counts those of its issues that are challenges alone."""
    return FittedTable(
        [Column("theme"), *(Column(n, numeric=True) for n in ("issues", *_CHALLENGE_NUMBERS))],
        [[Text(t.label), _issue_count(t), *_challenge_cells(t)] for t in profile.theme_challenges],
        title="Theme-level challenges (significantly over-indexed themes)",
        title_justify="left",
    )


_CHALLENGE_NUMBERS = ("tickets", "cust", "share", "lift", "95% CI", "q")


def _challenge_cells(challenge: Challenge | ThemeChallenge) -> list[Text | str]:
    """The statistics of an issue's or a theme's challenge, as `_CHALLENGE_NUMBERS` name them."""
    return [
        str(challenge.tickets),
        str(challenge.customers),
        fmt_pct(challenge.share),
        Text(fmt_lift(challenge.lift, challenge.baseline_share), style=OVER_STYLE),
        fmt_interval(challenge.ci_low, challenge.ci_high, "-"),
        fmt_q(challenge.q_value),
    ]


def _issue_count(theme: ThemeChallenge) -> str:
    """How many of a theme's issues are challenges on their own, of all its issues: "1/3"."""
    return f"{len(theme.significant_issues)}/{len(theme.issues)}"


def _theme_only_note(profile: PersonaProfile) -> str:
    """The note under the theme table when a theme is a finding at the theme level only."""
    if not any(t.theme_only for t in profile.theme_challenges):
        return ""
    return (
        "issues: how many of the theme's issues are challenges on their own. 0/N: a finding "
        "at the theme level only; no issue of the theme is significant alone, together they are."
    )


def persona_markdown(profile: PersonaProfile) -> str:
    """A persona profile as Markdown (for a wiki page or a ticket)."""
    lines = [f"## {_md(profile.persona)} ({profile.shown_kind})", ""]
    if profile.negative:
        lines += [f"**Negative persona**: {profile.cost_sentence()}.", ""]
    elif profile.unconfirmed_negative:
        lines += [f"_{DECLARED_NEGATIVE}._", ""]
    if profile.description:
        lines += [f"_{_md(profile.description)}_", ""]
    if profile.rule:
        lines += [f"Who: `{profile.rule.replace('`', '')}`", ""]
    lines += [f"Impact: {_md(line)}" for line in profile.impact_lines()]
    if profile.impact_lines():
        lines.append("")
    lines += [_md(profile.summary), ""]
    if profile.no_findings:
        lines += [_md(profile.no_findings), ""]
    if profile.challenges:
        lines += [
            "| issue | tickets | customers | share | others | lift | 95% CI | q |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for c in profile.challenges:
            lines.append(
                f"| {_md(c.label)} | {c.tickets} | {c.customers} | {fmt_pct(c.share)} "
                f"| {fmt_pct(c.baseline_share)} | {fmt_lift(c.lift, c.baseline_share)} "
                f"| {fmt_interval(c.ci_low, c.ci_high, '-')} | {fmt_q(c.q_value)} |"
            )
        lines.append("")
    if profile.theme_challenges:
        lines += [
            "### Theme-level challenges",
            "",
            "| theme | issues | tickets | customers | share | others | lift | 95% CI | q |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for t in profile.theme_challenges:
            lines.append(
                f"| {_md(t.label)} | {_issue_count(t)} | {t.tickets} | {t.customers} "
                f"| {fmt_pct(t.share)} | {fmt_pct(t.baseline_share)} | {fmt_lift(t.lift, t.baseline_share)} "
                f"| {fmt_interval(t.ci_low, t.ci_high, '-')} | {fmt_q(t.q_value)} |"
            )
        lines.append("")
        note = _theme_only_note(profile)
        if note:
            lines += [f"_{note}_", ""]
    for c in profile.challenges:
        if c.questions:
            lines += [f"### {_md(c.label)}: common questions", ""]
            lines += [f"- {_md(q)}" for q in c.questions]
            lines.append("")
    return "\n".join(lines)


def trends_view(trends: IssueTrends) -> RenderableType:
    """Tickets per period of the top issues (or themes): a sparkline, the latest period, its change."""
    index = trends.latest
    if index is None or not trends.series:
        return Text("No dated tickets with a topic yet.")
    label = _period_label(trends, index)
    window_header = f"last {min(SPARK_PERIODS, index + 1)} {trends.period}s"
    headers = [trends.level, "tickets", window_header, label, "before", "change"]
    rows: list[list[Text | str]] = []
    noise = False
    for series in trends.series:
        latest, previous, change = trends.change(series)
        evidence = trends.evidence(series)
        noise = noise or (evidence is not None and not evidence.significant)
        window = series.counts[max(0, index + 1 - SPARK_PERIODS) : index + 1]
        rows.append(
            [
                Text(series.label),
                f"{series.total:,}",
                sparkline(window),
                str(latest),
                "" if previous is None else str(previous),
                _change_text(latest, previous, change, evidence),
            ]
        )
    table = FittedTable(
        [Column(h, numeric=h != trends.level) for h in headers],
        rows,
        title=_trends_title(trends),
        title_justify="left",
    )
    if not noise:
        return table
    return Group(
        table,
        Text(
            "≈: within noise (exact test of the two counts per day, FDR q ≥ 0.05 over every "
            f"{trends.level}); ▲ ▼: a significant change",
            style="dim",
        ),
    )


def trends_output(trends: IssueTrends, fmt: str) -> RenderableType:
    """The trends as a table with sparklines, JSON with every period, or flat CSV/Markdown rows."""
    if fmt == "table":
        return trends_view(trends)
    if fmt == "json":
        return json.dumps(trends_data(trends), indent=2) + "\n"
    return rows_output(trends_rows(trends), fmt, title="")


def trends_rows(trends: IssueTrends) -> Rows:
    """The trends as flat rows (for CSV and Markdown): one row per issue (or theme)."""
    index = trends.latest
    period = trends.periods[index].isoformat() if index is not None else None
    rows = []
    for series in trends.series:
        latest, previous, change = trends.change(series)
        evidence = trends.evidence(series)
        rows.append(
            (
                series.label,
                series.key,
                series.total,
                period,
                latest,
                previous,
                None if change is None else round(change, 4),
                *_evidence_values(evidence),
            )
        )
    label, key = _trend_names(trends)
    columns = [label, key, "tickets", f"{trends.period}", "latest", "previous", "change"]
    columns += ["change_low", "change_high", "p_value", "q_value", "significant"]
    return Rows(columns, rows)


def trends_data(trends: IssueTrends) -> dict[str, Any]:
    """The trends as JSON-ready data, with every period's count.

    Issues are listed under "issues" (`issue`, `topic_id`), themes under "themes" (`theme`,
    `group_id`); the rest is the same at both levels.
    """
    index = trends.latest
    label, key = _trend_names(trends)
    return {
        "level": trends.level,
        "period": trends.period,
        "latest_period": trends.periods[index].isoformat() if index is not None else None,
        "data_from": trends.data_from.isoformat() if trends.data_from else None,
        "data_to": trends.data_to.isoformat() if trends.data_to else None,
        "partial_periods": [
            p.isoformat() for p, part in zip(trends.periods, trends.partial, strict=True) if part
        ],
        f"{trends.level}s": [
            {
                label: s.label,
                key: s.key,
                "tickets": s.total,
                "latest": latest,
                "previous": previous,
                "change": change,
                **dict(
                    zip(
                        ("change_low", "change_high", "p_value", "q_value", "significant"),
                        _evidence_values(trends.evidence(s)),
                        strict=True,
                    )
                ),
                "counts": {p.isoformat(): n for p, n in zip(trends.periods, s.counts, strict=True)},
            }
            for s in trends.series
            for latest, previous, change in [trends.change(s)]
        ],
    }


def status_view(warehouse: Path | str, state: WarehouseStatus) -> list[RenderableType]:
    """The warehouse's status for the terminal: model, refit, recent runs, their errors, watermarks."""
    pending = state.pending_migrations
    lines: list[RenderableType] = [
        Text(
            f"warehouse: {warehouse}"
            + (
                f" ({len(pending)} migrations pending: the next run or ingest applies them)"
                if pending
                else ""
            )
        )
    ]
    model = state.model
    if model is None:
        lines.append(Text("topic model: none yet (the next run fits one)"))
    else:
        lines.append(
            Text(
                f"topic model: {model['model_id']}, fitted {model['created_at']:%Y-%m-%d %H:%M} "
                f"UTC on {model['n_tickets']} tickets, {model['n_topics']} topics"
                + _topic_size(model.get("min_topic_size"), model.get("first_topic_size"))
            )
        )
    lines.append(Text(f"refit due: {state.refit_due}" if state.refit_due else "refit due: no"))
    coverage = state.coverage
    if coverage is not None:
        lines.append(
            Text(
                f"tickets linked to a known customer: {coverage.linked:,} of {coverage.tickets:,} "
                f"({coverage.share:.0%})"
                + (f"; {coverage.warning()}" if coverage.warning() else "")
            )
        )
    if state.languages is not None and state.languages.prepared:
        lines.append(Text(f"languages: {state.languages.summary()}"))
    view = FittedTable(
        [
            Column("started (UTC)", numeric=True),
            Column("run"),
            Column("status"),
            Column("s", numeric=True),
            Column("tickets"),
        ],
        [
            [
                f"{r.started_at:%Y-%m-%d %H:%M}",
                f"{r.deployment.rsplit('/', 1)[-1] if r.deployment else 'by hand'} {r.kind}",
                r.status + (f" in {r.failed_stage}" if r.failed_stage else ""),
                "" if r.seconds is None else f"{r.seconds:.0f}",
                run_counts(r.stages),
            ]
            for r in state.runs
        ],
        title="Recent runs",
    )
    lines.append(view if state.runs else Text("runs: none recorded yet"))
    for r in state.runs:
        if r.error:
            lines.append(
                Text(f"{r.started_at:%Y-%m-%d %H:%M} {r.status}: ", style="bold") + Text(r.error)
            )
    watermarks = [
        (
            w.ticket_source or "",
            w.source.removeprefix("tickets:"),
            f"{w.watermark:%Y-%m-%d %H:%M:%S}",
            f"{w.updated_at:%Y-%m-%d %H:%M}",
        )
        for w in state.watermarks
    ]
    columns = ["source", "read from", "watermark (UTC)", "updated (UTC)"]
    lines.append(rows_output(Rows(columns, watermarks), "table", title="Ingest watermarks"))
    if state.cursors:
        pulled = [
            (c.source, c.stream, f"{c.pages:,}", f"{c.records:,}", f"{c.updated_at:%Y-%m-%d %H:%M}")
            for c in state.cursors
        ]
        columns = ["source", "stream", "pages", "records", "updated (UTC)"]
        lines.append(rows_output(Rows(columns, pulled), "table", title="Pulled sources"))
    return lines


def status_output(warehouse: Path | str, state: WarehouseStatus, fmt: str) -> list[RenderableType]:
    """The warehouse's status as JSON text (`busy` false) or, for "table", the terminal view."""
    if fmt != "json":
        return status_view(warehouse, state)
    data = asdict(state)
    data["busy"] = False
    return [json.dumps(data, default=str, indent=2) + "\n"]


def busy_output(warehouse: Path | str, fmt: str) -> RenderableType:
    """What `status` says while a run or an ingest holds the warehouse (JSON: `busy` true)."""
    message = (
        f"warehouse {warehouse}: a run or an ingest is writing to it right now "
        "(DuckDB lets no reader in meanwhile); ask again when it has finished, or look "
        "at the run in the Prefect UI"
    )
    if fmt == "json":
        return json.dumps({"busy": True, "message": message}) + "\n"
    return Text(message)


def run_counts(stages: Any) -> str:
    """New and updated tickets ingested, tickets prepared and assigned, from a run's stages."""
    ingested = sum(
        int(v.get("new", 0)) + int(v.get("updated", 0))
        for k, v in stages.items()
        if k.startswith("ingest tickets") and isinstance(v, dict)
    )
    parts = [f"{ingested} ingested"] if any(k.startswith("ingest tickets") for k in stages) else []
    if isinstance(stages.get("prepare"), dict):
        parts.append(f"{stages['prepare'].get('prepared', 0)} prepared")
    if isinstance(stages.get("topics"), dict):
        topics = stages["topics"]
        parts.append(f"{topics.get('tickets', 0)} {'refit' if topics.get('refit') else 'assigned'}")
    return ", ".join(parts)


def sparkline(values: tuple[int, ...] | list[int]) -> str:
    """Block characters from the lowest to the highest value: the shape, not the size. A
    steady series is a level line at half height, a series of zeros a line at the bottom (no
    ticket is not steady volume)."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARK[0 if high == 0 else len(SPARK) // 2] * len(values)
    return "".join(SPARK[round((v - low) / (high - low) * (len(SPARK) - 1))] for v in values)


def _trend_names(trends: IssueTrends) -> tuple[str, str]:
    """The names of a series' label and id at the trends' level."""
    return ("theme", "group_id") if trends.level == "theme" else ("issue", "topic_id")


def _trends_title(trends: IssueTrends) -> str:
    index = trends.latest
    if index is None:
        return f"Tickets of the top {trends.level}s"
    title = f"Tickets per {trends.period} of the top {trends.level}s; latest complete {trends.period}: {trends.periods[index]}"
    if trends.partial[-1] and index != len(trends.periods) - 1:
        title += f" ({trends.periods[-1]} is partial)"
    return title


def _evidence_values(
    evidence: CountChange | None,
) -> tuple[float | None, float | None, float | None, float | None, bool | None]:
    """(change_low, change_high, p_value, q_value, significant) of a change, rounded for people."""
    if evidence is None:
        return None, None, None, None, None
    low = None if evidence.low is None else round(evidence.low, 4)
    high = None if evidence.high is None else round(evidence.high, 4)
    q_value = None if evidence.q_value is None else float(f"{evidence.q_value:.4g}")
    return low, high, float(f"{evidence.p_value:.4g}"), q_value, evidence.significant


def _period_label(trends: IssueTrends, index: int) -> str:
    start = trends.periods[index]
    return start.strftime("%m-%d") if trends.period == "week" else start.strftime("%Y-%m")


def _change_text(
    latest: int | None,
    previous: int | None,
    change: float | None,
    evidence: CountChange | None = None,
) -> Text:
    if change is None:
        return Text("new" if latest and previous == 0 else "")
    if evidence is not None and not evidence.significant:
        return Text(f"≈ {change:+.0%}", style="dim")
    arrow = "▲" if change > 0 else "▼" if change < 0 else "="
    return Text(f"{arrow} {change:+.0%}", style="bold" if abs(change) >= 0.25 else "")


#: A "<" that could open an HTML tag or comment ("<img", "</", "<!--"); "<0.001" stays.
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


def _md(text: str) -> str:
    """Text safe in a Markdown table cell or line: newlines flattened, pipes escaped, and no
    HTML tag or link (ticket text is untrusted, and a Markdown viewer may render either)."""
    flat = " ".join(text.split()).replace("|", "\\|").replace("](", "]\\(")
    return _TAG_START.sub("&lt;", flat)


#: What the headline impact counts, in the title of `table --sort impact`.
IMPACT_TITLES = {
    "csat": "CSAT points each persona would gain without the issue",
    "resolution_hours": "hours off each persona's mean resolution time without the issue",
    "reopen_rate": "points off each persona's reopen rate without the issue",
    "escalation_rate": "points off each persona's escalation rate without the issue",
}


def impact_table_output(
    table: Rows, fmt: str, *, measure: str | None, unmeasured: int
) -> RenderableType:
    """`table --sort impact`: what to fix first, for whom; rows without outcome data say so.

    CSV and JSON keep every column and value; the terminal and Markdown show the impact with
    its interval, CSAT and resolution hours against everyone else's on the same issue, and
    a closing line counting the rows that have no impact to rank (never ranked as costless).
    """
    if fmt in ("csv", "json"):
        return rows_output(table, fmt, title="")
    at = {c: i for i, c in enumerate(table.columns)}
    scale = 100.0 if measure in ("reopen_rate", "escalation_rate") else 1.0

    def number(value: Any, digits: int = 2) -> str:
        return "" if value is None else f"{float(value) * scale:.{digits}f}"

    def versus(row: Sequence[Any], own: str, others: str, digits: int) -> str:
        if row[at[own]] is None:
            return ""
        other = row[at[others]]
        return f"{row[at[own]]:.{digits}f}" + ("" if other is None else f" vs {other:.{digits}f}")

    columns = ["persona", "issue", "impact", "95% CI", "CSAT", "hours", "note"]
    cells = []
    for row in table.rows:
        low, high = row[at["impact_low"]], row[at["impact_high"]]
        cells.append(
            [
                str(row[at["persona"]]),
                str(row[at["issue"]]),
                number(row[at["impact"]]),
                f"{number(low)} to {number(high)}" if low is not None and high is not None else "",
                versus(row, "csat", "csat_others", 1),
                versus(row, "resolution_hours", "resolution_hours_others", 0),
                ""
                if row[at["impact"]] is not None
                else f"no outcome data: {row[at['outcome_note']]}",
            ]
        )
    title = f"What to fix first: {IMPACT_TITLES.get(measure or '', 'impact')}"
    footer = (
        f"{unmeasured} persona x issue rows have no outcome data to rank them; they are listed "
        "after the ranked ones with the reason (`persona-mining table --sort impact --all`)."
        if unmeasured
        else ""
    )
    if measure is None:
        footer = (
            "The tickets have no outcome columns (CSAT, resolution time, reopened, escalated): "
            "no issue can be ranked by what it costs; rows are listed by tickets."
        )
    if fmt == "markdown":
        lines = [f"**{title}**", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(map(_md, r)) + " |" for r in cells]
        return "\n".join(lines + (["", footer] if footer else [])) + "\n"
    if not cells:
        return Text(f"{title}: no rows" + (f"\n{footer}" if footer else ""))
    view = FittedTable(
        [Column(c, numeric=c in ("impact", "95% CI", "CSAT", "hours")) for c in columns],
        cells,
        title=title,
    )
    return Group(view, Text(footer, style="dim")) if footer else view


def _topic_size(size: int | None, first: int | None) -> str:
    """How small a topic of the current model may be, and why, for `status`."""
    if size is None:
        return ""
    if first is not None and size < first:
        return (
            f", minimum size {size} tickets (from {first}: many small issues left out at that "
            "size; a topic split off a larger one may be half as large)"
        )
    return f", minimum size {size} tickets (a topic split off a larger one may be half as large)"
